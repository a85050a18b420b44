import type { Logger } from '../core/index.ts';
import { type Clock, createPreciseClock, type ServicePolicy } from '../core/index.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import type { Direction } from '../telemetry/names.ts';
import { createProxyMetrics, type ProxyMetrics } from '../telemetry/proxy-metrics.ts';
import type { Tracer } from '../telemetry/tracing/tracer.ts';
import type { DiscoverySource } from './discovery/index.ts';
import {
  type ExchangeTelemetry,
  exchangeTelemetry,
  type LoopPoller,
  loadLoopPoller,
  ReplyPoller,
} from './engine/index.ts';
import {
  createGatewayListener,
  createInboundListener,
  createOutboundListener,
  type InboundListenerOptions,
  type ListenerOptions,
  type ProxyListener,
} from './listeners/index.ts';
import { type MetricsServer, serveMetrics } from './listeners/metrics-listener.ts';
import { ClusterManager, type PoolOptions, ReadBufferPool } from './upstream/index.ts';

export interface ProxyDeps {
  source: DiscoverySource;
  logger: Logger;
  clock?: Clock;
  /** Policy for services the source has none for (default: Envoy-like defaults, see defaultServicePolicy). */
  defaultPolicy?: (service: string) => ServicePolicy;
  pool?: PoolOptions;
  /** Uniform in [0, 1), for balancers and retry jitter (default Math.random). */
  random?: () => number;
  /**
   * Metrics are recorded by default, into metrics of this proxy's own (`metrics`); `false` turns
   * them off. `processMetrics: true` adds the process's metrics to them (for a standalone sidecar or
   * gateway process; leave it off when the process exposes them elsewhere).
   */
  metrics?: false | { processMetrics?: boolean };
  /**
   * Every exchange continues or starts a W3C trace and propagates it; sampled ones end in a span per
   * hop in the tracer's sink (which the caller closes after the proxy). Off when absent.
   */
  tracing?: { tracer: Tracer };
  /** One JSON line per exchange; the caller closes it after the proxy. Off when absent. */
  accessLog?: AccessLog;
  /**
   * While a request awaits an endpoint's reply, the event loop polls instead of sleeping, for at most
   * this many milliseconds, where most replies polled for came that soon (engine/reply-poller.ts);
   * 0 or absent: off.
   */
  busyPollMs?: number;
  /** What polls (default: native/busy-poll; where it is not built, busy polling is off). */
  loopPoller?: LoopPoller;
}

/** A listener may trace as another service than the proxy's tracer names (null: not at all). */
export interface TracedListenerOptions {
  tracer?: Tracer | null;
}

/** Options of an inbound listener; the logger and clock come from the proxy. */
export type InboundOptions = Omit<InboundListenerOptions, 'logger' | 'clock'>;

/** One data plane: its clusters (shared by its listeners) and its listeners. */
export interface TrellisProxy {
  readonly clusters: ClusterManager;
  /** The proxy's metrics (its families, its Prometheus text); null when turned off. */
  readonly metrics: ProxyMetrics | null;
  /**
   * Serves the metrics at `GET /metrics` on an admin listener of their own (the proxy ports never
   * answer anything but proxied traffic); closed with the proxy.
   */
  serveMetrics(options: { port: number; host?: string }): Promise<MetricsServer>;
  /** Routes by the route table (host, path, method, headers). */
  gateway(options: ListenerOptions & TracedListenerOptions): Promise<ProxyListener>;
  /** The sidecar's app → mesh side: the service is named by the request (HTTP proxy, Host, Dapr path). */
  outbound(options: ListenerOptions & TracedListenerOptions): Promise<ProxyListener>;
  /** The sidecar's mesh → app side: everything to one local app. */
  inbound(options: InboundOptions & TracedListenerOptions): Promise<ProxyListener>;
  /** Closes every listener (draining them) and every upstream connection. */
  close(): Promise<void>;
}

export function createProxy(deps: ProxyDeps): TrellisProxy {
  const clock = deps.clock ?? createPreciseClock();
  const { logger, random } = deps;
  // Every upstream connection of the proxy takes its read buffer from one shared pool.
  const pool: PoolOptions = { ...deps.pool, readBuffers: deps.pool?.readBuffers ?? new ReadBufferPool() };
  const clusters = new ClusterManager({
    source: deps.source,
    clock,
    logger,
    defaultPolicy: deps.defaultPolicy,
    pool,
    random,
  });
  const metrics =
    deps.metrics === false
      ? null
      : createProxyMetrics({
          clusters: () => clusters.list(),
          now: () => clock.now(),
          processMetrics: deps.metrics?.processMetrics,
        });
  const telemetryOf = (direction: Direction, options: TracedListenerOptions): ExchangeTelemetry | null =>
    exchangeTelemetry(
      direction,
      options.tracer === undefined ? deps.tracing?.tracer : options.tracer,
      deps.accessLog,
    );
  const replyPoller = createReplyPoller(deps);
  const listeners = new Set<ProxyListener>();
  const metricsServers = new Set<MetricsServer>();
  let closed = false;

  async function track(opening: Promise<ProxyListener>): Promise<ProxyListener> {
    const listener = await opening;
    if (closed) {
      await listener.close();
      throw new Error('the proxy is closed');
    }
    listeners.add(listener);
    return {
      get port() {
        return listener.port;
      },
      get host() {
        return listener.host;
      },
      get connections() {
        return listener.connections;
      },
      async close(drainTimeoutMs, shared) {
        listeners.delete(listener);
        await listener.close(drainTimeoutMs, shared);
      },
    };
  }

  return {
    clusters,
    metrics,
    gateway: (options) =>
      track(
        createGatewayListener({
          ...options,
          clusters,
          clock,
          logger,
          random,
          metrics: metrics?.listener('gateway'),
          telemetry: telemetryOf('gateway', options),
          replyPoller,
        }),
      ),
    outbound: (options) =>
      track(
        createOutboundListener({
          ...options,
          clusters,
          clock,
          logger,
          random,
          metrics: metrics?.listener('outbound'),
          telemetry: telemetryOf('outbound', options),
          replyPoller,
        }),
      ),
    inbound: (options) =>
      track(
        createInboundListener({
          ...options,
          metrics: metrics?.listener('inbound'),
          telemetry: telemetryOf('inbound', options),
          replyPoller,
          policy:
            options.policy ??
            (options.service === undefined ? undefined : clusters.policyOf(options.service)),
          pool: options.pool ?? pool,
          clock,
          logger,
        }),
      ),
    async serveMetrics(options) {
      if (metrics === null) throw new TypeError('this proxy was created with metrics: false');
      if (closed) throw new Error('the proxy is closed');
      const server = await serveMetrics({
        ...options,
        source: metrics,
        onError: (error) => logger.error({ err: error }, 'proxy: collecting metrics failed'),
      });
      metricsServers.add(server);
      return server;
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...listeners].map((listener) => listener.close()));
      listeners.clear();
      await Promise.all([...metricsServers].map((server) => server.close()));
      metricsServers.clear();
      metrics?.close();
      clusters.close();
    },
  };
}

function createReplyPoller(deps: ProxyDeps): ReplyPoller | null {
  const windowMs = deps.busyPollMs ?? 0;
  if (windowMs <= 0) return null;
  const loop = deps.loopPoller ?? loadLoopPoller();
  if (loop === undefined) {
    deps.logger.debug(
      'proxy: native/busy_poll is not built (npm rebuild with a C compiler builds it); no busy polling',
    );
    return null;
  }
  return new ReplyPoller(loop, windowMs);
}
