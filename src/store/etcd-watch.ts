import type { IDuplexStream, IEvent, IWatchRequest, IWatchResponse, WatchClient } from 'etcd3';
import type { Logger } from 'pino';
import { MeshError } from '../core/index.ts';
import type { KeyValue, Watch, WatchEvent, WatchHandlers } from './store.ts';

export interface EtcdWatchOptions {
  watchClient: WatchClient;
  /** The etcd key range to watch (store prefix already applied). */
  key: Buffer;
  rangeEnd: Buffer;
  /** Turns an etcd key back into a store key (strips the store prefix). */
  toStoreKey(key: Buffer): string;
  handlers: WatchHandlers;
  /** Deliver events after this revision; undefined means from now. */
  afterRevision: number | undefined;
  logger?: Logger;
  onEnded(watch: EtcdWatch): void;
}

const MAX_BACKOFF_MS = 5000;

/**
 * One etcd watch on its own gRPC stream. It remembers the revision of the last event it delivered,
 * and when the stream breaks it reconnects (with backoff) from the next revision, dropping anything
 * already delivered, so events are never lost, repeated or reordered. It ends with COMPACTED when
 * etcd no longer holds the revisions it needs.
 */
export class EtcdWatch implements Watch {
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private lastRevision: number | undefined;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: EtcdWatchOptions) {
    this.lastRevision = options.afterRevision;
  }

  /** Opens the stream and resolves once etcd has created the watch. */
  start(): Promise<void> {
    return this.connect();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.teardown();
    this.options.onEnded(this);
  }

  /** Ends the watch with an error for its handler (e.g. STORE_CLOSED when the store closes). */
  fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.teardown();
    this.options.onEnded(this);
    try {
      this.options.handlers.onError?.(error);
    } catch (handlerError) {
      this.options.logger?.error({ err: handlerError }, 'store: a watch error handler threw');
    }
  }

  private teardown(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }

  private async connect(): Promise<void> {
    const stream = await this.options.watchClient.watch();
    if (this.closed) {
      stream.on('error', () => undefined);
      stream.cancel();
      return;
    }
    this.stream = stream;
    await new Promise<void>((resolve, reject) => {
      let created = false;
      const broken = (error: Error) => {
        if (stream !== this.stream) return;
        this.stream = undefined;
        stream.cancel();
        if (created) this.reconnectLater(error);
        else reject(error);
      };
      stream.on('error', broken);
      stream.on('end', () => broken(new Error('the watch stream ended')));
      stream.on('data', (response: IWatchResponse) => {
        if (stream !== this.stream) return;
        if (response.created && !created) {
          created = true;
          this.attempt = 0;
          this.lastRevision ??= Number(response.header.revision);
          resolve();
        }
        if (response.events.length > 0) this.deliver(response.events);
        if (response.canceled) this.canceled(response);
      });
      const startRevision = this.lastRevision === undefined ? undefined : this.lastRevision + 1;
      stream.write({
        create_request: {
          key: this.options.key,
          range_end: this.options.rangeEnd,
          ...(startRevision === undefined ? {} : { start_revision: startRevision }),
        },
      });
    });
  }

  private reconnectLater(error: Error): void {
    if (this.closed) return;
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.attempt);
    this.attempt += 1;
    this.options.logger?.warn(
      { err: error, afterRevision: this.lastRevision, retryInMs: delay },
      'store: etcd watch stream broke; reconnecting',
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.connect().catch((retryError: Error) => this.reconnectLater(retryError));
    }, delay);
    this.retryTimer.unref();
  }

  private canceled(response: IWatchResponse): void {
    const compactRevision = Number(response.compact_revision);
    if (compactRevision > 0) {
      this.fail(
        new MeshError(
          'COMPACTED',
          `Revision ${String(this.lastRevision)} is older than etcd's retained history (compacted at ` +
            `${compactRevision}); list again and watch from the list's revision.`,
        ),
      );
      return;
    }
    this.fail(
      new MeshError('STORE_UNAVAILABLE', `etcd canceled the watch: ${response.cancel_reason || 'no reason'}`),
    );
  }

  private deliver(raw: IEvent[]): void {
    const events: WatchEvent[] = [];
    for (const event of raw) {
      const revision = Number(event.kv.mod_revision);
      // After a reconnect etcd may resend what this watch already delivered.
      if (this.lastRevision !== undefined && revision <= this.lastRevision) continue;
      const key = this.options.toStoreKey(event.kv.key);
      if (event.type === 'Delete') {
        events.push({ type: 'delete', key, modRevision: revision });
      } else {
        events.push({ type: 'put', kv: toKeyValue(key, event.kv) });
      }
    }
    if (events.length === 0) return;
    const last = events[events.length - 1];
    this.lastRevision = last.type === 'put' ? last.kv.modRevision : last.modRevision;
    try {
      this.options.handlers.onEvents(events);
    } catch (error) {
      this.options.logger?.error({ err: error }, 'store: a watch handler threw');
    }
  }
}

export function toKeyValue(
  key: string,
  kv: { value: Buffer; create_revision: string; mod_revision: string; version: string; lease: string },
): KeyValue {
  return {
    key,
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    ...(kv.lease && kv.lease !== '0' ? { lease: kv.lease } : {}),
  };
}
