import type { Clock } from '../../core/index.ts';
import { MeshError } from '../../core/index.ts';
import type { WatchEvent } from '../store.ts';
import { History } from './history.ts';
import { Keyspace } from './keyspace.ts';
import { LeaseTable } from './leases.ts';
import type { SnapshotImage } from './snapshot.ts';
import type { WalOp, WalRecord } from './wal-codec.ts';

/**
 * Everything the store knows, changed only by applying WAL records: the same `apply` runs for live
 * writes and for replay at start-up, so the two cannot drift apart.
 */
export class StoreState {
  readonly keys = new Keyspace();
  readonly leases: LeaseTable;
  readonly history: History;

  constructor(clock: Clock, historySize: number, onLeaseExpired: (id: string) => void) {
    this.leases = new LeaseTable(clock, onLeaseExpired);
    this.history = new History(historySize);
  }

  /** The record for `ops` at the next revision (unchanged when no key is written). */
  nextRecord(ops: WalOp[]): WalRecord {
    return { revision: this.keys.revision + (ops.some(writesKey) ? 1 : 0), ops };
  }

  apply(record: WalRecord): WatchEvent[] {
    const expected = this.keys.revision + (record.ops.some(writesKey) ? 1 : 0);
    if (record.revision !== expected) {
      throw new MeshError(
        'INTERNAL',
        `Write-ahead log record has revision ${record.revision}, expected ${expected}; the log is corrupt.`,
      );
    }
    const events: WatchEvent[] = [];
    for (const op of record.ops) {
      switch (op.op) {
        case 'put': {
          const previous = this.keys.get(op.key);
          if (previous?.lease !== undefined && previous.lease !== op.lease) {
            this.leases.detach(previous.lease, op.key);
          }
          const kv = this.keys.put(op.key, op.value, op.lease, record.revision);
          if (op.lease !== undefined) this.leases.attach(op.lease, op.key);
          events.push({ type: 'put', kv });
          break;
        }
        case 'delete': {
          const previous = this.keys.delete(op.key);
          if (!previous) break;
          if (previous.lease !== undefined) this.leases.detach(previous.lease, op.key);
          events.push({ type: 'delete', key: op.key, modRevision: record.revision });
          break;
        }
        case 'grant':
          this.leases.grant(op.lease, op.ttl);
          break;
        case 'revoke':
          this.leases.remove(op.lease);
          break;
      }
    }
    this.keys.revision = record.revision;
    if (events.length > 0) this.history.append(events, record.revision);
    return events;
  }

  /** Loads a snapshot into an empty state; history before it is gone. */
  load(image: SnapshotImage): void {
    for (const lease of image.leases) this.leases.grant(lease.id, lease.ttl);
    for (const kv of image.keys) {
      this.keys.load(kv);
      if (kv.lease !== undefined) this.leases.attach(kv.lease, kv.key);
    }
    this.keys.revision = image.revision;
    this.history.compact(image.revision);
  }

  image(nextSegment: number): SnapshotImage {
    return {
      revision: this.keys.revision,
      nextSegment,
      keys: this.keys.all(),
      leases: this.leases.all().map((lease) => ({ id: lease.id, ttl: lease.ttlSeconds })),
    };
  }
}

function writesKey(op: WalOp): boolean {
  return op.op === 'put' || op.op === 'delete';
}
