import {
  type CallContext,
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  type ICompare,
  type IPutRequest,
  type IRangeResponse,
} from 'etcd3';
import type { Logger } from 'pino';
import { isMeshError, MeshError } from '../core/index.ts';
import {
  checkKey,
  checkRevision,
  checkValue,
  conflict,
  leaseNotFound,
  leaseTtl,
  storeClosed,
} from './checks.ts';
import { EtcdWatch, toKeyValue } from './etcd-watch.ts';
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
} from './store.ts';

export interface EtcdStoreOptions {
  /** `host:port` of each cluster member. */
  endpoints: string[];
  /** Prepended to every key, so several meshes (or tests) can share one etcd. */
  prefix?: string;
  logger?: Logger;
  /** Deadline for each request (default 5 s). */
  requestTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 1000;
const LEASE_ID = /^[1-9]\d*$/;

/**
 * The Store on an etcd v3 cluster. Revisions, versions and leases are etcd's own; compare-on-revision
 * writes are etcd transactions; watches are etcd watch streams that resume after a broken connection.
 * Failures to reach etcd become STORE_UNAVAILABLE.
 */
export class EtcdStore implements Store {
  readonly kind = 'etcd';
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly endpoints: string[],
    private readonly logger: Logger | undefined,
  ) {}

  /** Connects and checks that the cluster answers; throws STORE_UNAVAILABLE if it does not. */
  static async connect(options: EtcdStoreOptions): Promise<EtcdStore> {
    if (options.endpoints.length === 0) {
      throw new MeshError('BAD_REQUEST', 'EtcdStore needs at least one endpoint (host:port).');
    }
    const timeout = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    const client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: timeout,
      // Unary calls get a deadline; streams (watch, keep-alive) live as long as they are needed.
      defaultCallOptions: (context: CallContext) =>
        context.isStream ? {} : { deadline: Date.now() + timeout },
    });
    const store = new EtcdStore(client, options.prefix ?? '', options.endpoints, options.logger);
    try {
      await client.maintenance.status();
    } catch (error) {
      client.close();
      throw store.toError(error);
    }
    options.logger?.info({ endpoints: options.endpoints, prefix: store.prefix }, 'store: connected to etcd');
    return store;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const response = await this.call(() => this.client.kv.range({ key: this.etcdKey(key) }));
    const kv = response.kvs[0];
    return kv ? toKeyValue(key, kv) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    const [key, rangeEnd] = this.range(prefix);
    const response = await this.call(() => this.client.kv.range({ key, range_end: rangeEnd }));
    return {
      items: response.kvs.map((kv) => toKeyValue(this.storeKey(kv.key), kv)),
      revision: Number(response.header.revision),
    };
  }

  async put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    checkKey(key);
    checkValue(value);
    checkRevision('expectedModRevision', options.expectedModRevision);
    if (options.lease !== undefined && !LEASE_ID.test(options.lease)) throw leaseNotFound(options.lease);
    const request: IPutRequest = { key: this.etcdKey(key), value: Buffer.from(value, 'utf8') };
    if (options.lease !== undefined) request.lease = options.lease;
    const expected = options.expectedModRevision;
    const lease = options.lease;
    if (expected === undefined) {
      const response = await this.call(() => this.client.kv.put(request), lease);
      return { revision: Number(response.header.revision) };
    }
    const response = await this.call(
      () =>
        this.client.kv.txn({
          compare: [this.compare(key, expected)],
          success: [{ request_put: request }],
          failure: [{ request_range: { key: this.etcdKey(key) } }],
        }),
      lease,
    );
    if (!response.succeeded) throw this.conflictFrom(key, expected, response.responses[0]?.response_range);
    return { revision: Number(response.header.revision) };
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    checkKey(key);
    checkRevision('expectedModRevision', options.expectedModRevision);
    const expected = options.expectedModRevision;
    if (expected === undefined) {
      const response = await this.call(() => this.client.kv.deleteRange({ key: this.etcdKey(key) }));
      return { revision: Number(response.header.revision), deleted: Number(response.deleted) > 0 };
    }
    const response = await this.call(() =>
      this.client.kv.txn({
        compare: [this.compare(key, expected)],
        success: [{ request_delete_range: { key: this.etcdKey(key) } }],
        failure: [{ request_range: { key: this.etcdKey(key) } }],
      }),
    );
    if (!response.succeeded) throw this.conflictFrom(key, expected, response.responses[0]?.response_range);
    const deleted = Number(response.responses[0]?.response_delete_range?.deleted ?? 0) > 0;
    return { revision: Number(response.header.revision), deleted };
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    const ttl = leaseTtl(ttlSeconds);
    const response = await this.call(() => this.client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }));
    if (response.error) throw new MeshError('STORE_UNAVAILABLE', `etcd refused a lease: ${response.error}`);
    return response.ID;
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    if (this.closed) throw storeClosed();
    if (!LEASE_ID.test(lease)) throw leaseNotFound(lease);
    const stream = await this.call(() => this.client.leaseClient.leaseKeepAlive());
    let ttl: number;
    try {
      ttl = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new MeshError('STORE_UNAVAILABLE', 'etcd did not answer a lease keep-alive in time.')),
          DEFAULT_TIMEOUT_MS,
        );
        stream.on('data', (response) => {
          clearTimeout(timer);
          resolve(Number(response.TTL));
        });
        stream.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        stream.write({ ID: lease });
      });
    } catch (error) {
      stream.cancel();
      throw this.toError(error, lease);
    }
    stream.end();
    // etcd answers a keep-alive for an expired or revoked lease with TTL 0.
    if (ttl <= 0) throw leaseNotFound(lease);
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    if (this.closed) throw storeClosed();
    if (!LEASE_ID.test(lease)) return;
    try {
      await this.call(() => this.client.leaseClient.leaseRevoke({ ID: lease }), lease);
    } catch (error) {
      if (isMeshError(error) && error.code === 'LEASE_NOT_FOUND') return;
      throw error;
    }
  }

  async watch(prefix: string, handlers: WatchHandlers, options: WatchOptions = {}): Promise<Watch> {
    if (this.closed) throw storeClosed();
    checkRevision('afterRevision', options.afterRevision);
    const [key, rangeEnd] = this.range(prefix);
    const watch = new EtcdWatch({
      watchClient: this.client.watchClient,
      key,
      rangeEnd,
      toStoreKey: (etcdKey) => this.storeKey(etcdKey),
      handlers,
      afterRevision: options.afterRevision,
      logger: this.logger,
      onEnded: (ended) => this.watches.delete(ended),
    });
    this.watches.add(watch);
    try {
      await watch.start();
    } catch (error) {
      await watch.close();
      throw this.toError(error);
    }
    return watch;
  }

  async revision(): Promise<number> {
    const response = await this.call(() =>
      this.client.kv.range({ key: this.etcdKey('\0'), count_only: true }),
    );
    return Number(response.header.revision);
  }

  async isHealthy(): Promise<boolean> {
    if (this.closed) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.maintenance.status({ deadline: Date.now() + HEALTH_TIMEOUT_MS }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Compacts etcd's history before `revision` (the whole cluster, not only this prefix). */
  async compact(revision: number): Promise<void> {
    checkRevision('revision', revision);
    await this.call(() => this.client.kv.compact({ revision, physical: true }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of [...this.watches]) watch.fail(storeClosed());
    this.client.close();
  }

  private etcdKey(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  private storeKey(key: Buffer): string {
    return key.toString('utf8').slice(this.prefix.length);
  }

  /** [key, range_end] covering every key that starts with prefix (under the store prefix). */
  private range(prefix: string): [Buffer, Buffer] {
    const start = this.etcdKey(prefix);
    if (start.length === 0) return [Buffer.from([0]), Buffer.from([0])];
    return [start, prefixEnd(start)];
  }

  private compare(key: string, expected: number): ICompare {
    return expected === 0
      ? { key: this.etcdKey(key), target: 'Create', result: 'Equal', create_revision: 0 }
      : { key: this.etcdKey(key), target: 'Mod', result: 'Equal', mod_revision: expected };
  }

  private conflictFrom(key: string, expected: number, current: IRangeResponse | undefined): MeshError {
    const kv = current?.kvs[0];
    return conflict(key, expected, kv ? Number(kv.mod_revision) : undefined);
  }

  private async call<T>(operation: () => Promise<T>, lease?: LeaseId): Promise<T> {
    if (this.closed) throw storeClosed();
    try {
      return await operation();
    } catch (error) {
      throw this.toError(error, lease);
    }
  }

  private toError(error: unknown, lease?: LeaseId): MeshError {
    if (isMeshError(error)) return error;
    if (error instanceof EtcdLeaseInvalidError) return leaseNotFound(lease ?? 'unknown');
    if (error instanceof ClientClosedError || this.closed) return storeClosed();
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes('required revision has been compacted')) {
      return new MeshError('COMPACTED', `etcd no longer holds that revision: ${message}`, { cause: error });
    }
    return new MeshError(
      'STORE_UNAVAILABLE',
      `etcd at ${this.endpoints.join(',')} did not answer: ${message}`,
      {
        cause: error,
      },
    );
  }
}

/** The smallest key greater than every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i] += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
