/**
 * The control-plane HTTP server: node:http, the router, the admin token, the API modules and the
 * watch hub, wired once per server (no globals, so a test can run several in one process).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ControlSettings } from '../config/index.ts';
import type { ClusterManager } from '../proxy/index.ts';
import type { Registry } from '../registry/index.ts';
import type { Store } from '../store/index.ts';
import { type ControlMetrics, createControlMetrics, type HealthCheckStats } from '../telemetry/index.ts';
import { type AlertsApiDeps, registerAlertRoutes } from './api/alerts.ts';
import { createDashboardFiles } from './api/dashboard.ts';
import { createDaprInvokeHandler, isDaprInvoke, registerCallRoute } from './api/invoke.ts';
import { registerMetricsRoutes } from './api/metrics.ts';
import { registerNativeRoutes } from './api/native.ts';
import { registerPolicyRoutes } from './api/policies.ts';
import { registerProbeRoutes } from './api/probes.ts';
import { registerProxyAdminRoutes } from './api/proxy-admin.ts';
import { registerRouteRoutes } from './api/routes.ts';
import { registerSeedRoutes } from './api/seed.ts';
import { registerSeedConfigureRoutes } from './api/seed-configure.ts';
import { registerTopologyRoutes } from './api/topology.ts';
import { registerTraceRoutes } from './api/traces.ts';
import { assertSafeBinding, createTokenCheck, requiresToken } from './auth.ts';
import type { ApiDeps, Handler, LeaderView, RequestContext } from './context.ts';
import { readJsonBody, sendError, sendJson } from './http.ts';
import type { MeshInvoker } from './invoker.ts';
import { createRouter } from './router.ts';
import { type ControlTelemetry, createControlTelemetry } from './telemetry.ts';
import { createWatchHub } from './watch.ts';

export interface ControlServerOptions {
  registry: Registry;
  store: Store;
  /** The health checker, asked whether this node is the health-check leader. */
  checker?: LeaderView;
  settings: ControlSettings;
  logger: Logger;
  nodeId?: string;
  watch?: {
    /** Default 15 s. */
    pingIntervalMs?: number;
    /** Default 1 MiB. */
    maxBufferedBytes?: number;
  };
  /** How long close() waits for in-flight requests before cutting connections. Default 5 s. */
  closeTimeoutMs?: number;
  /** The health checks this node's checker ran, for `trellis_health_checks_total`. */
  healthChecks?: HealthCheckStats;
  /** Include the process's metrics (CPU, memory, event loop, GC) in /metrics (default true). */
  processMetrics?: boolean;
  /** The node's proxy; without it invocation (/api/v1/mesh/v2/call, /v1.0/invoke) and /api/v1/proxy are not served. */
  dataPlane?: { invoker: MeshInvoker; clusters: ClusterManager };
  /** The alert evaluator and rule store; without them /api/v1/alerts is not served. */
  alerts?: AlertsApiDeps;
  /** Span collector, statistics and graph; default: one with the default limits, closed with the server. */
  telemetry?: ControlTelemetry;
  /** The built dashboard served at `/` (default: dist/dashboard in the package). */
  dashboardDir?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
  url: string;
}

export interface ControlServer {
  listen(): Promise<ListenAddress>;
  /** Ends watch streams, stops accepting, waits (bounded) for in-flight requests, closes sockets. */
  close(): Promise<void>;
  /** Number of open watch streams. */
  watchClients(): number;
  /**
   * This node's metrics, served at `GET /metrics` and `GET /api/v1/mesh/v2/metrics`. A proxy running
   * in this process adds its own with `metrics.include(proxy.metrics)`.
   */
  readonly metrics: ControlMetrics;
  /** The span collector, statistics and service graph behind /v1/traces, /api/v1/traces, topology and stats. */
  readonly telemetry: ControlTelemetry;
}

export function createControlServer(options: ControlServerOptions): ControlServer {
  const { registry, store, settings, logger } = options;
  assertSafeBinding(settings.host, settings.adminToken);

  const hub = createWatchHub({
    registry,
    logger,
    pingIntervalMs: options.watch?.pingIntervalMs,
    maxBufferedBytes: options.watch?.maxBufferedBytes,
  });
  const deps: ApiDeps = { registry, store, checker: options.checker, hub, logger, nodeId: options.nodeId };
  const metrics = createControlMetrics({
    watchSubscribers: () => hub.clientCount(),
    revision: () => registry.revision(),
    services: () => registry.listServices(),
    healthChecks: options.healthChecks,
    processMetrics: options.processMetrics,
  });
  const router = createRouter<Handler>();
  let accepting = false;
  registerProbeRoutes(router, deps, () => accepting);
  registerNativeRoutes(router, deps);
  registerPolicyRoutes(router, deps);
  registerRouteRoutes(router, deps);
  registerSeedRoutes(router, deps);
  registerSeedConfigureRoutes(router, deps);
  registerMetricsRoutes(router, metrics);
  const telemetry = options.telemetry ?? createControlTelemetry(undefined, { logger });
  registerTraceRoutes(router, telemetry);
  registerTopologyRoutes(router, { registry, telemetry, logger });
  if (options.alerts) registerAlertRoutes(router, options.alerts);
  let daprInvoke: Handler | undefined;
  if (options.dataPlane) {
    registerCallRoute(router, options.dataPlane.invoker);
    registerProxyAdminRoutes(router, options.dataPlane.clusters);
    daprInvoke = createDaprInvokeHandler(options.dataPlane.invoker, { adminToken: settings.adminToken });
  }

  const dashboard = createDashboardFiles({ dir: options.dashboardDir });
  const checkToken = settings.adminToken ? createTokenCheck(settings.adminToken) : undefined;
  const inFlight = new Set<ServerResponse>();
  let idle: (() => void) | undefined;
  const settled = (res: ServerResponse) => {
    if (inFlight.delete(res) && inFlight.size === 0) idle?.();
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    inFlight.add(res);
    res.once('close', () => {
      settled(res);
      logger.debug(
        {
          method: req.method,
          url: req.url,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    if (!accepting) res.setHeader('Connection', 'close');
    try {
      const target = req.url ?? '/';
      const queryAt = target.indexOf('?');
      const path = queryAt === -1 ? target : target.slice(0, queryAt);
      const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));
      if (dashboard.owns(req.method ?? 'GET', path)) {
        await dashboard.serve(req, res, path);
        return;
      }
      if (checkToken && requiresToken(path)) checkToken(req);
      const { handler, params } =
        daprInvoke !== undefined && isDaprInvoke(path)
          ? { handler: daprInvoke, params: {} }
          : router.match(req.method ?? 'GET', path);
      const ctx: RequestContext = {
        req,
        res,
        params,
        path,
        query,
        body: () => readJsonBody(req, settings.maxBodyBytes),
      };
      const reply = await handler(ctx);
      if (reply) sendJson(res, reply.status, reply.body, reply.headers);
      // A streaming handler owns its response (the watch hub ends it on close); shutdown does not wait for it.
      else settled(res);
    } catch (error) {
      sendError(res, error, logger, req);
    }
  }

  const server = createServer({ noDelay: true }, (req, res) => {
    void handle(req, res);
  });
  server.on('clientError', (error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
    logger.debug({ err: error }, 'malformed request');
  });

  let address: ListenAddress | undefined;
  let closing: Promise<void> | undefined;

  return {
    async listen() {
      if (address) return address;
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        server.once('error', onError);
        server.listen(settings.port, settings.host, () => {
          server.off('error', onError);
          resolve();
        });
      });
      const bound = server.address() as AddressInfo;
      address = {
        host: settings.host,
        port: bound.port,
        url: `http://${urlHost(settings.host)}:${bound.port}`,
      };
      accepting = true;
      logger.info({ url: address.url }, 'control plane listening');
      return address;
    },

    close() {
      closing ??= (async () => {
        accepting = false;
        hub.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight.size > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            new Promise<void>((resolve) => {
              idle = resolve;
            }),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, options.closeTimeoutMs ?? 5000);
            }),
          ]);
          clearTimeout(timer);
        }
        server.closeAllConnections();
        await closed;
        if (!options.telemetry) await telemetry.close();
        metrics.close();
      })();
      return closing;
    },

    watchClients: () => hub.clientCount(),
    metrics,
    telemetry,
  };
}

/** The address clients should use: a wildcard bind is reached on loopback; IPv6 goes in brackets. */
export function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}
