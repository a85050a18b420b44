import { type BackoffOptions, type MeshWatch, watchMesh } from '../../client/index.ts';
import type { Clock, Logger } from '../../core/index.ts';
import { createHttp1Transport } from '../control-link/index.ts';
import { createWatchSource } from '../discovery/index.ts';
import { type MetricsServer, serveMetrics } from '../listeners/metrics-listener.ts';
import { createProxy } from '../proxy.ts';
import { defaultServicePolicy } from '../upstream/index.ts';
import { createWorkerPool, type WorkerPool } from '../workers/pool.ts';
import { type ObservabilitySettings, openObservability } from './observability.ts';
import { closeListeners, type DataPlanePlan, type ListenerAddress, openListeners } from './plan.ts';

export interface DataPlaneOptions {
  /** The control plane whose watch stream feeds the proxy. */
  control: string;
  token?: string;
  plan: DataPlanePlan;
  /** 1 (default): the listeners run in this process; more: in that many worker processes. */
  workers?: number;
  logger: Logger;
  /** The workers' log level (default: the logger's). */
  logLevel?: string;
  clock?: Clock;
  random?: () => number;
  /** Reconnecting to the control plane (default: 100 ms doubling up to 5 s, full jitter). */
  backoff?: BackoffOptions;
  /** Tracing (spans to `<control>/v1/traces`), the access log and the metrics port; all off by default. */
  observability?: ObservabilitySettings;
  /** Called each time the watch (re)connects to the control plane. */
  onConnected?(): void;
}

/** The listeners of a proxy process (or of its workers) and the watch that feeds them. */
export interface DataPlane {
  /** In plan order. */
  readonly listeners: readonly ListenerAddress[];
  /** The last-known view of the mesh; kept while the control plane is away. */
  readonly watch: MeshWatch;
  /** The worker processes' pids; empty when the listeners run in this process. */
  workerPids(): number[];
  /** The metrics listener (`GET /metrics`, every worker's metrics summed); undefined when not served. */
  readonly metrics: MetricsServer | undefined;
  /** Stops accepting, lets the exchanges in progress finish (within the plan's drain timeout), stops. */
  close(): Promise<void>;
}

/**
 * Opens the plan's listeners, fed by one watch on the control plane. With workers, this process
 * holds the watch and forwards the view to them, so the control plane sees one subscriber however
 * many workers run. Listening does not wait for the control plane: until its first view arrives,
 * requests are answered NO_HEALTHY_UPSTREAM.
 */
export async function startDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { logger, plan } = options;
  const workers = options.workers ?? 1;
  const settings = options.observability;
  const metricsPort = settings?.metricsPort;
  let pool: WorkerPool | undefined;
  let everConnected = false;
  let reported = false;
  const watch = watchMesh({
    url: options.control,
    transport: createHttp1Transport,
    token: options.token,
    clock: options.clock,
    random: options.random,
    backoff: options.backoff,
    logger,
    onSnapshot: (snapshot) => pool?.view(snapshot),
    onChange: (change) => pool?.change(change),
    onState(connected) {
      if (connected) {
        logger.info(
          { control: options.control },
          everConnected ? 'control plane is back' : 'watching the mesh',
        );
        everConnected = true;
        reported = false;
        options.onConnected?.();
      }
    },
    onError(error) {
      // One line per outage, not one per reconnection attempt.
      if (reported) return;
      reported = true;
      logger.warn(
        { control: options.control, err: error },
        everConnected
          ? 'lost the control plane; serving the last-known view and reconnecting'
          : 'cannot reach the control plane; retrying',
      );
    },
  });

  if (workers > 1) {
    // Created before it starts, so a change that arrives while the workers start reaches them.
    pool = createWorkerPool({
      count: workers,
      plan,
      view: () => watch.view(),
      logger,
      logLevel: options.logLevel,
      clock: options.clock,
      observability: settings,
      control: options.control,
      token: options.token,
      metrics: metricsPort !== undefined,
    });
    const running = pool;
    let metricsServer: MetricsServer | undefined;
    try {
      await pool.start();
      if (metricsPort !== undefined) {
        metricsServer = await serveMetrics({
          port: metricsPort,
          host: settings?.metricsHost,
          source: { contentType: running.metricsContentType, text: () => running.metrics() },
          onError: (error) => logger.error({ err: error }, "proxy: collecting the workers' metrics failed"),
        });
      }
    } catch (error) {
      await running.drain();
      await watch.close();
      throw error;
    }
    return {
      listeners: plan.listeners.map((spec, i) => ({ host: spec.host, port: running.ports[i] ?? spec.port })),
      watch,
      metrics: metricsServer,
      workerPids: () => running.pids(),
      async close() {
        await running.drain();
        await metricsServer?.close();
        await watch.close();
      },
    };
  }

  const source = createWatchSource(watch, defaultServicePolicy, {
    onError: (error) => logger.error({ err: error }, 'proxy: a view listener failed'),
  });
  let observability: Awaited<ReturnType<typeof openObservability>>;
  try {
    observability = await openObservability(settings, {
      control: options.control,
      token: options.token,
      logger,
    });
  } catch (error) {
    source.close();
    await watch.close();
    throw error;
  }
  const proxy = createProxy({
    source,
    logger,
    clock: options.clock,
    random: options.random,
    metrics: metricsPort === undefined ? undefined : { processMetrics: true },
    tracing: observability.tracing,
    accessLog: observability.accessLog,
    busyPollMs: plan.busyPollMs,
  });
  let listeners: Awaited<ReturnType<typeof openListeners>>;
  let metricsServer: MetricsServer | undefined;
  try {
    listeners = await openListeners(proxy, plan);
    if (metricsPort !== undefined) {
      metricsServer = await proxy.serveMetrics({ port: metricsPort, host: settings?.metricsHost });
    }
  } catch (error) {
    await proxy.close();
    await observability.close();
    source.close();
    await watch.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    listeners: listeners.map((listener) => ({ host: listener.host, port: listener.port })),
    watch,
    metrics: metricsServer,
    workerPids: () => [],
    close() {
      closing ??= (async () => {
        await closeListeners(listeners, plan);
        await proxy.close();
        await observability.close();
        source.close();
        await watch.close();
      })();
      return closing;
    },
  };
}
