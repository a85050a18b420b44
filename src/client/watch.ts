/**
 * A subscription to the control plane's watch stream that keeps a last-known view of the mesh.
 * While the control plane is unreachable the view stays as it was (static stability) and the
 * watcher reconnects with exponential backoff and full jitter, resuming after the last revision it
 * applied and naming the store that revision counts in; the server answers with the missed changes,
 * or a fresh snapshot if they are gone or its store is another (an empty data dir, a replaced etcd),
 * and the snapshot replaces the whole view.
 */
import {
  type Clock,
  type Instance,
  type Logger,
  type MeshChange,
  MeshError,
  type MeshSnapshot,
  type Route,
  type Service,
  type ServicePolicy,
  systemClock,
  type TimerHandle,
  toMeshError,
} from '../core/index.ts';
import { type BackoffOptions, fullJitterDelay } from './backoff.ts';
import { authHeaders, errorFromResponse, normalizeBaseUrl, unavailable } from './http.ts';
import { createMeshView } from './mesh-view.ts';
import { createSseParser, type SseEvent } from './sse.ts';
import {
  createTransport,
  type OpenStream,
  readText,
  type StreamReply,
  type TransportFactory,
} from './transport.ts';

export interface WatchMeshOptions {
  url: string;
  token?: string;
  /**
   * A full view arrived: the first one, or a replacement after a gap too long to replay or from a
   * control plane on another store. What is not in it is gone from the view.
   */
  onSnapshot?(snapshot: MeshSnapshot): void;
  /** One change, already applied to the view. */
  onChange?(change: MeshChange): void;
  /** Called on every transition between connected and disconnected. */
  onState?(connected: boolean): void;
  /** A failed attempt or a broken stream; the watcher keeps retrying. */
  onError?(error: MeshError): void;
  backoff?: BackoffOptions;
  /** Reconnect when the stream is silent (not even a ping) this long. Default 45 s. */
  idleTimeoutMs?: number;
  /** How long to wait for the reply headers. Default 10 s. */
  connectTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  /** How to speak HTTP to the control plane; default node:http (see transport.ts). */
  transport?: TransportFactory;
}

export interface MeshWatch {
  /** The last-known mesh; undefined until the first snapshot. Served unchanged while disconnected. */
  view(): MeshSnapshot | undefined;
  revision(): number | undefined;
  /** The store the view's revision counts in (from the last snapshot), sent back on resume. */
  storeId(): string | undefined;
  service(name: string): Service | undefined;
  instance(id: string): Instance | undefined;
  instancesOf(service: string): Instance[];
  /** The names of the services with at least one instance (a live view: do not keep it across changes). */
  serviceNames(): Iterable<string>;
  /** The service's stored policy; undefined when it runs on the defaults (see `defaultPolicy` in config). */
  policy(service: string): ServicePolicy | undefined;
  /** Every gateway route, in no particular order. */
  routes(): Route[];
  /**
   * Calls `listener` after every snapshot or change applied to the view (after `onSnapshot` /
   * `onChange`); returns the unsubscribe function.
   */
  subscribe(listener: () => void): () => void;
  connected(): boolean;
  /** Resolves with the first view; rejects if the watch is closed before one arrives. */
  ready(): Promise<MeshSnapshot>;
  close(): Promise<void>;
}

export function watchMesh(options: WatchMeshOptions): MeshWatch {
  const baseUrl = normalizeBaseUrl(options.url);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const logger = options.logger;
  const meshView = createMeshView();
  // One connection per stream, never pooled: a watch holds its connection for as long as it lasts.
  const transport = (options.transport ?? createTransport)(baseUrl);
  const headers = { accept: 'text/event-stream', ...authHeaders(options.token) };

  let closed = false;
  let isConnected = false;
  let attempt = 0;
  /** Set when the server says our revision is too old: the next attempt starts fresh. */
  let fresh = false;
  let current: OpenStream | undefined;
  let sleeping: { handle: TimerHandle; wake: () => void } | undefined;

  let resolveReady!: (snapshot: MeshSnapshot) => void;
  let rejectReady!: (error: Error) => void;
  const readyPromise = new Promise<MeshSnapshot>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  readyPromise.catch(() => {});
  const listeners = new Set<() => void>();

  function changed(): void {
    for (const listener of [...listeners]) notify(listener);
  }

  function setConnected(value: boolean): void {
    if (value === isConnected) return;
    isConnected = value;
    if (!closed) notify(() => options.onState?.(value));
  }

  function report(error: unknown): void {
    if (closed) return;
    const meshError = toMeshError(error);
    logger?.debug({ err: meshError }, `mesh watch: ${meshError.message}`);
    notify(() => options.onError?.(meshError));
  }

  /** A listener that throws must not break the stream or the view; it is logged and ignored. */
  function notify(listener: () => void): void {
    try {
      listener();
    } catch (error) {
      logger?.error({ err: error }, 'mesh watch: a listener threw');
    }
  }

  /** Applies one event; throws only when the event itself is malformed. */
  function handle(event: SseEvent): void {
    if (event.event === 'snapshot') {
      const snapshot = JSON.parse(event.data) as MeshSnapshot;
      if (
        !Number.isFinite(snapshot?.revision) ||
        !Array.isArray(snapshot.services) ||
        !Array.isArray(snapshot.instances) ||
        (snapshot.policies !== undefined && !Array.isArray(snapshot.policies)) ||
        (snapshot.routes !== undefined && !Array.isArray(snapshot.routes))
      ) {
        throw new Error('not a mesh snapshot');
      }
      meshView.reset(snapshot);
      const view = meshView.snapshot()!;
      resolveReady(view);
      notify(() => options.onSnapshot?.(view));
      changed();
    } else if (event.event === 'change') {
      const change = JSON.parse(event.data) as MeshChange;
      if (!Number.isFinite(change?.revision) || typeof change.type !== 'string')
        throw new Error('not a mesh change');
      if (meshView.apply(change)) {
        notify(() => options.onChange?.(change));
        changed();
      }
    }
  }

  async function connectOnce(): Promise<void> {
    const url = `${baseUrl}/api/v1/watch${fresh ? '' : resumeQuery(meshView.revision(), meshView.storeId())}`;
    const stream = transport.stream(url, {
      headers,
      headTimeoutMs: connectTimeoutMs,
      idleTimeoutMs,
    });
    current = stream;
    let response: StreamReply;
    try {
      response = await stream.response;
    } catch (error) {
      throw unavailable(baseUrl, error);
    }
    if (response.status !== 200) {
      const text = await readText(response.body).catch(() => '');
      const error = errorFromResponse({ status: response.status, text }, 'GET', url);
      if (error.code === 'COMPACTED') fresh = true;
      throw error;
    }
    fresh = false;
    attempt = 0;
    setConnected(true);
    let failure: unknown;
    const parser = createSseParser({
      onEvent(event) {
        if (failure !== undefined) return;
        try {
          handle(event);
        } catch (error) {
          failure = new MeshError(
            'INTERNAL',
            `malformed ${event.event} event from ${baseUrl}: ${(error as Error).message}`,
          );
          stream.abort();
        }
      },
    });
    response.body.setEncoding('utf8');
    try {
      for await (const text of response.body) parser.push(text as string);
      parser.end();
    } catch (error) {
      if (failure !== undefined) throw failure;
      if (!closed) throw unavailable(baseUrl, error);
    }
    if (failure !== undefined) throw failure;
    if (!closed)
      throw new MeshError('CONTROL_PLANE_UNAVAILABLE', `the control plane at ${baseUrl} ended the watch`);
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        sleeping = undefined;
        resolve();
      };
      sleeping = { handle: clock.setTimeout(wake, ms), wake };
    });
  }

  async function run(): Promise<void> {
    while (!closed) {
      try {
        await connectOnce();
      } catch (error) {
        report(error);
      }
      current = undefined;
      if (closed) break;
      setConnected(false);
      const delay = fullJitterDelay(attempt++, options.backoff, random);
      await sleep(delay);
    }
  }

  const running = run();

  return {
    view: () => meshView.snapshot(),
    revision: () => meshView.revision(),
    storeId: () => meshView.storeId(),
    service: (name) => meshView.service(name),
    instance: (id) => meshView.instance(id),
    instancesOf: (service) => meshView.instancesOf(service),
    serviceNames: () => meshView.serviceNames(),
    policy: (service) => meshView.policy(service),
    routes: () => meshView.routes(),
    subscribe(listener) {
      const entry = () => listener();
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    connected: () => isConnected,
    ready: () => readyPromise,
    async close() {
      if (closed) return running;
      closed = true;
      current?.abort();
      if (sleeping) {
        clock.clearTimeout(sleeping.handle);
        sleeping.wake();
      }
      await running;
      listeners.clear();
      isConnected = false;
      rejectReady(
        new MeshError(
          'CONTROL_PLANE_UNAVAILABLE',
          `the watch on ${baseUrl} was closed before a snapshot arrived`,
        ),
      );
      await transport.destroy();
    },
  };
}

/** `?revision=N&store=S`: resume after N when the server's store is still S (else a snapshot). */
function resumeQuery(revision: number | undefined, storeId: string | undefined): string {
  if (revision === undefined) return '';
  return storeId === undefined
    ? `?revision=${revision}`
    : `?revision=${revision}&store=${encodeURIComponent(storeId)}`;
}
