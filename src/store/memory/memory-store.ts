import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../core/index.ts';
import {
  checkExpected,
  checkKey,
  checkRevision,
  checkValue,
  leaseNotFound,
  leaseTtl,
  storeClosed,
} from '../checks.ts';
import type {
  DeleteOptions,
  DeleteResult,
  KeyValue,
  LeaseId,
  ListResult,
  PutOptions,
  Store,
  Watch,
  WatchHandlers,
  WatchOptions,
  WriteResult,
} from '../store.ts';
import type { Lease } from './leases.ts';
import { LogWriter, type LogWriterStats } from './log-writer.ts';
import { recover } from './recovery.ts';
import { removeSegmentsBefore, segmentPath } from './segments.ts';
import { type SnapshotImage, writeSnapshot } from './snapshot.ts';
import { StoreState } from './state.ts';
import { encodeRecord, type WalOp } from './wal-codec.ts';
import { WatchHub } from './watchers.ts';

export interface MemoryStoreOptions {
  /** Directory for the write-ahead log and snapshots. Without it the store lives in memory only. */
  dataDir?: string;
  clock?: Clock;
  logger?: Logger;
  /** Revisions of change history kept for watches that start in the past (default 10,000). */
  historySize?: number;
  /** Log records between snapshots (default 10,000). */
  snapshotEvery?: number;
}

export interface MemoryStoreStats {
  revision: number;
  keys: number;
  leases: number;
  watchers: number;
  /** Watches must start after this revision. */
  compactedThrough: number;
  /** Write-ahead log counters; `syncs` well below `records` shows group commit at work. */
  wal?: LogWriterStats;
}

const DEFAULT_HISTORY = 10_000;
const DEFAULT_SNAPSHOT_EVERY = 10_000;

/**
 * The embedded store: the whole keyspace in a Map, every change appended to a write-ahead log and
 * acknowledged only once fsync'd, periodic snapshots so start-up replays little.
 *
 * A change is applied to memory first (so compare-on-revision checks see every earlier write) and
 * becomes visible to others only once durable: reads wait for the log to cover what they read, and
 * watchers only get durable events. So no one sees a revision that a crash could take back.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly snapshotEvery: number;
  private readonly state: StoreState;
  private readonly hub: WatchHub;
  private dataDir: string | undefined;
  private wal: LogWriter | undefined;
  private segment = 0;
  private recordsSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;
  /** Settles once every record appended so far is durable (or the log failed). */
  private lastAppend: Promise<unknown> = Promise.resolve();
  private closed = false;
  private failureReported = false;

  private constructor(options: MemoryStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.snapshotEvery = Math.max(1, options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY);
    this.state = new StoreState(this.clock, Math.max(1, options.historySize ?? DEFAULT_HISTORY), (id) =>
      this.expire(id),
    );
    this.hub = new WatchHub(this.state.history, this.logger);
  }

  /** Opens the store, replaying `dataDir` if given; leases found there get a full TTL from now. */
  static async open(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
    const store = new MemoryStore(options);
    if (options.dataDir !== undefined) await store.recover(options.dataDir);
    store.state.leases.start();
    return store;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    checkKey(key);
    const kv = this.state.keys.get(key);
    await this.durable();
    return kv;
  }

  async list(prefix: string): Promise<ListResult> {
    this.assertOpen();
    const items = this.state.keys.list(prefix);
    const revision = this.state.keys.revision;
    await this.durable();
    return { items, revision };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    this.assertOpen();
    checkKey(key);
    checkValue(value);
    checkRevision('expectedModRevision', options.expectedModRevision);
    checkExpected(key, this.state.keys.get(key), options.expectedModRevision);
    if (options.lease !== undefined) this.liveLease(options.lease);
    const op: WalOp = {
      op: 'put',
      key,
      value,
      ...(options.lease === undefined ? {} : { lease: options.lease }),
    };
    return { revision: await this.commit([op]) };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    this.assertOpen();
    checkKey(key);
    checkRevision('expectedModRevision', options.expectedModRevision);
    const current = this.state.keys.get(key);
    checkExpected(key, current, options.expectedModRevision);
    if (!current) {
      // Like etcd: deleting nothing is not a write and does not move the revision.
      const revision = this.state.keys.revision;
      await this.durable();
      return { revision, deleted: false };
    }
    return { revision: await this.commit([{ op: 'delete', key }]), deleted: true };
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.assertOpen();
    const ttl = leaseTtl(ttlSeconds);
    const id = this.state.leases.newId();
    await this.commit([{ op: 'grant', lease: id, ttl }]);
    return id;
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    this.assertOpen();
    this.state.leases.refresh(this.liveLease(lease));
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.assertOpen();
    const found = this.state.leases.get(lease);
    if (!found) {
      await this.durable();
      return;
    }
    await this.commit(revokeOps(found));
  }

  async watch(prefix: string, handlers: WatchHandlers, options: WatchOptions = {}): Promise<Watch> {
    this.assertOpen();
    checkRevision('afterRevision', options.afterRevision);
    return this.hub.add(prefix, handlers, options.afterRevision ?? this.hub.visibleRevision);
  }

  async revision(): Promise<number> {
    this.assertOpen();
    const revision = this.state.keys.revision;
    await this.durable();
    return revision;
  }

  async isHealthy(): Promise<boolean> {
    return !this.closed && this.wal?.failed === undefined;
  }

  /**
   * Forgets the change history up to `revision` (exclusive, as etcd's compaction): watches that would
   * start before it get COMPACTED. History is otherwise trimmed to `historySize` automatically.
   */
  async compact(revision: number): Promise<void> {
    this.assertOpen();
    checkRevision('revision', revision);
    this.state.history.compact(Math.min(revision, this.state.keys.revision) - 1);
  }

  stats(): MemoryStoreStats {
    return {
      revision: this.state.keys.revision,
      keys: this.state.keys.size,
      leases: this.state.leases.size,
      watchers: this.hub.size,
      compactedThrough: this.state.history.compactedThrough,
      ...(this.wal ? { wal: this.wal.stats() } : {}),
    };
  }

  /** Flushes the log, ends every watch with STORE_CLOSED; every later call throws STORE_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state.leases.stop();
    await this.snapshotting;
    if (this.wal) {
      await this.wal.close();
      if (this.wal.failed === undefined) this.hub.advance(this.state.keys.revision);
    } else {
      this.hub.advance(this.state.keys.revision);
    }
    this.hub.closeAll(storeClosed());
  }

  private async recover(dataDir: string): Promise<void> {
    await mkdir(dataDir, { recursive: true });
    const recovered = await recover(dataDir, this.logger);
    if (recovered.snapshot) this.state.load(recovered.snapshot);
    for (const record of recovered.records) this.state.apply(record);
    this.dataDir = dataDir;
    this.segment = recovered.nextSegment;
    this.recordsSinceSnapshot = recovered.records.length;
    this.wal = await LogWriter.create(segmentPath(dataDir, this.segment));
    this.hub.advance(this.state.keys.revision);
    this.logger?.info(
      {
        dataDir,
        revision: this.state.keys.revision,
        keys: this.state.keys.size,
        leases: this.state.leases.size,
        replayedRecords: recovered.records.length,
      },
      'store: opened',
    );
  }

  /** Applies `ops` as one record, logs it and resolves with its revision once it is durable. */
  private async commit(ops: WalOp[]): Promise<number> {
    const record = this.state.nextRecord(ops);
    this.state.apply(record);
    if (!this.wal) {
      this.hub.advance(record.revision);
      return record.revision;
    }
    const appended = this.wal.append(encodeRecord(record));
    this.lastAppend = appended.catch(() => undefined);
    this.recordsSinceSnapshot += 1;
    this.maybeSnapshot();
    try {
      await appended;
    } catch (error) {
      this.logFailed(error as Error);
      throw error;
    }
    this.hub.advance(record.revision);
    return record.revision;
  }

  /** The log is broken (disk full, I/O error): nothing is durable any more, so end every watch. */
  private logFailed(error: Error): void {
    if (this.failureReported || this.closed) return;
    this.failureReported = true;
    this.logger?.error({ err: error }, 'store: the write-ahead log failed; the store stops serving');
    this.hub.closeAll(error);
  }

  /** Waits until everything read so far is durable, so a read never reports a write a crash could undo. */
  private async durable(): Promise<void> {
    await this.lastAppend;
    const failure = this.wal?.failed;
    if (failure) throw failure;
  }

  private assertOpen(): void {
    if (this.closed) throw storeClosed();
    const failure = this.wal?.failed;
    if (failure) throw failure;
  }

  /** The lease if it is alive; one whose time is up is expired on the spot. */
  private liveLease(id: LeaseId): Lease {
    const lease = this.state.leases.get(id);
    if (!lease) throw leaseNotFound(id);
    if (this.state.leases.isExpired(lease)) {
      this.expire(id);
      throw leaseNotFound(id);
    }
    return lease;
  }

  private expire(id: string): void {
    const lease = this.state.leases.get(id);
    if (!lease || this.closed || this.wal?.failed) return;
    this.logger?.debug({ lease: id, keys: lease.keys.size }, 'store: lease expired');
    this.commit(revokeOps(lease)).catch((error: unknown) =>
      this.logger?.error({ err: error, lease: id }, 'store: could not log a lease expiry'),
    );
  }

  /**
   * Every `snapshotEvery` records: capture the state now, switch the log to a new segment at exactly
   * this point, and once the old segment is durable write the snapshot and drop older segments.
   */
  private maybeSnapshot(): void {
    if (!this.wal || !this.dataDir || this.snapshotting) return;
    if (this.recordsSinceSnapshot < this.snapshotEvery) return;
    this.recordsSinceSnapshot = 0;
    this.segment += 1;
    const image = this.state.image(this.segment);
    const rotated = this.wal.rotate(segmentPath(this.dataDir, this.segment));
    this.snapshotting = this.writeSnapshotAfter(this.dataDir, rotated, image)
      .catch((error: unknown) =>
        this.logger?.error({ err: error }, 'store: snapshot failed; the log still has everything'),
      )
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  private async writeSnapshotAfter(dir: string, rotated: Promise<void>, image: SnapshotImage): Promise<void> {
    await rotated;
    await writeSnapshot(dir, image);
    await removeSegmentsBefore(dir, image.nextSegment);
    this.logger?.debug({ revision: image.revision, segment: image.nextSegment }, 'store: snapshot written');
  }
}

/** Deletes the lease's keys and the lease itself, in one record (one revision, as in etcd). */
function revokeOps(lease: Lease): WalOp[] {
  const deletes: WalOp[] = [...lease.keys].sort().map((key) => ({ op: 'delete', key }));
  return [...deletes, { op: 'revoke', lease: lease.id }];
}
