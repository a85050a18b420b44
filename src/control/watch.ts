/**
 * The watch fan-out hub behind `GET /api/v1/watch` (Server-Sent Events).
 *
 * Each client has its own registry subscription (the registry notifies synchronously and in
 * order, so a subscription is only a listener), but a change is serialized once and the same
 * string is written to every client. One timer pings all clients. A client whose socket buffer
 * grows past `maxBufferedBytes` is dropped: it reconnects and resumes from its last event id.
 *
 * Revisions count within one store. The snapshot carries the store's id (`storeId`), and a client
 * resuming with `?store=<id>` that is not the current store's (the control plane came back on an
 * empty data dir, or a replaced etcd) gets a snapshot rather than the changes after its revision
 * in a history it never saw. A resume without the id is trusted, as before.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isMeshError, type MeshChange, MeshError } from '../core/index.ts';
import type { ChangeSubscription, Registry } from '../registry/index.ts';

export interface WatchHubOptions {
  registry: Registry;
  logger: Logger;
  /** Comment line sent to every client this often, to keep proxies from timing out. Default 15 s. */
  pingIntervalMs?: number;
  /** A client with more than this many bytes waiting in its socket buffer is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Reconnection delay suggested to EventSource clients. Default 1 s. */
  retryMs?: number;
}

/** Where a client resumes: after `revision`, of the store `storeId` when it says which. */
export interface ResumePoint {
  revision: number;
  storeId?: string;
}

export interface WatchHub {
  /**
   * Takes over the response and streams until the client leaves or the hub closes. With `resume`,
   * sends only the changes after its revision when they are of this store and the registry still
   * holds them; otherwise (or without it) sends a snapshot first. Throws NOT_READY once the hub is
   * closed.
   */
  attach(req: IncomingMessage, res: ServerResponse, resume?: ResumePoint): void;
  clientCount(): number;
  /** Ends every stream. */
  close(): void;
}

interface Client {
  res: ServerResponse;
  /** Bytes that may wait in the socket buffer: more while a large snapshot is still draining. */
  bufferLimit: number;
  subscription?: ChangeSubscription;
  closed: boolean;
}

const FRAME_CACHE_SIZE = 512;
const PING_FRAME = ': ping\n\n';

export function createWatchHub(options: WatchHubOptions): WatchHub {
  const { registry, logger } = options;
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const retryMs = options.retryMs ?? 1000;

  const clients = new Set<Client>();
  const frames = new Map<string, string>();
  let snapshotFrame: { revision: number; storeId: string | undefined; frame: string } | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  let closed = false;

  function changeFrame(change: MeshChange): string {
    const key = changeKey(change);
    let frame = frames.get(key);
    if (frame === undefined) {
      frame = `id: ${change.revision}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`;
      frames.set(key, frame);
      if (frames.size > FRAME_CACHE_SIZE) frames.delete(frames.keys().next().value!);
    }
    return frame;
  }

  function currentSnapshotFrame(): { revision: number; frame: string } {
    if (
      snapshotFrame &&
      snapshotFrame.revision === registry.revision() &&
      snapshotFrame.storeId === registry.storeId()
    ) {
      return snapshotFrame;
    }
    const snapshot = registry.snapshot();
    const frame = `id: ${snapshot.revision}\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
    snapshotFrame = { revision: snapshot.revision, storeId: snapshot.storeId, frame };
    return snapshotFrame;
  }

  function write(client: Client, frame: string): void {
    if (client.closed) return;
    client.res.write(frame);
    if (client.res.writableLength > client.bufferLimit) {
      logger.warn({ buffered: client.res.writableLength }, 'dropping a slow watch client');
      drop(client, true);
    }
  }

  function drop(client: Client, destroy: boolean): void {
    if (client.closed) return;
    client.closed = true;
    clients.delete(client);
    client.subscription?.close();
    if (destroy) client.res.destroy();
    else client.res.end();
    if (clients.size === 0) stopPing();
  }

  function startPing(): void {
    if (pingTimer || pingIntervalMs <= 0) return;
    pingTimer = setInterval(() => {
      for (const client of clients) write(client, PING_FRAME);
    }, pingIntervalMs);
    pingTimer.unref();
  }

  function stopPing(): void {
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = undefined;
  }

  /** A revision of this store (when the client names one) that the registry has reached. */
  function canResume(resume: ResumePoint): boolean {
    if (resume.storeId !== undefined && resume.storeId !== registry.storeId()) {
      logger.debug(
        { clientStore: resume.storeId, storeId: registry.storeId(), revision: resume.revision },
        'watch client resumes from another store; sending a snapshot',
      );
      return false;
    }
    return resume.revision <= registry.revision();
  }

  function subscribe(client: Client, afterRevision: number): void {
    const listener = (change: MeshChange) => write(client, changeFrame(change));
    const subscription = registry.subscribe(listener, afterRevision);
    // The registry may have delivered a backlog synchronously, and the client may have been dropped.
    if (client.closed) subscription.close();
    else client.subscription = subscription;
  }

  return {
    attach(req, res, resume) {
      if (closed)
        throw new MeshError('NOT_READY', 'the control plane is shutting down; reconnect to another node');
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.socket?.setNoDelay(true);
      const client: Client = { res, bufferLimit: maxBufferedBytes, closed: false };
      clients.add(client);
      startPing();
      res.on('close', () => drop(client, false));
      req.on('error', () => drop(client, true));
      res.write(`retry: ${retryMs}\n\n`);

      try {
        if (resume && canResume(resume)) {
          try {
            subscribe(client, resume.revision);
            return;
          } catch (error) {
            if (!isMeshError(error) || error.code !== 'COMPACTED') throw error;
          }
        }
        const { revision, frame } = currentSnapshotFrame();
        // A snapshot of a large mesh is bigger than the slow-client limit: the limit counts from
        // the end of the snapshot until the socket has drained it.
        res.write(frame);
        client.bufferLimit = res.writableLength + maxBufferedBytes;
        res.once('drain', () => {
          client.bufferLimit = maxBufferedBytes;
        });
        if (!client.closed) subscribe(client, revision);
      } catch (error) {
        logger.error({ err: error }, 'could not start a watch stream');
        drop(client, true);
      }
    },

    clientCount: () => clients.size,

    close() {
      closed = true;
      for (const client of [...clients]) drop(client, false);
      stopPing();
    },
  };
}

function changeKey(change: MeshChange): string {
  switch (change.type) {
    case 'service.put':
      return `${change.revision} ${change.type} ${change.service.name}`;
    case 'service.delete':
      return `${change.revision} ${change.type} ${change.name}`;
    case 'instance.put':
      return `${change.revision} ${change.type} ${change.instance.id}`;
    case 'instance.delete':
      return `${change.revision} ${change.type} ${change.id}`;
    case 'policy.put':
      return `${change.revision} ${change.type} ${change.policy.service}`;
    case 'policy.delete':
      return `${change.revision} ${change.type} ${change.service}`;
    case 'route.put':
      return `${change.revision} ${change.type} ${change.route.name}`;
    case 'route.delete':
      return `${change.revision} ${change.type} ${change.name}`;
  }
}

/**
 * Where a client resumes: the revision from `?revision=N`, else the `Last-Event-ID` header, and the
 * store id from `?store=`. Undefined (a snapshot) without a valid revision.
 */
export function resumePoint(req: IncomingMessage, query: URLSearchParams): ResumePoint | undefined {
  const raw = query.get('revision') ?? req.headers['last-event-id'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.trim() === '') return undefined;
  const revision = Number(value);
  if (!Number.isSafeInteger(revision) || revision < 0) return undefined;
  const storeId = query.get('store');
  return storeId === null || storeId === '' ? { revision } : { revision, storeId };
}
