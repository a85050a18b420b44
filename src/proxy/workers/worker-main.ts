/**
 * The entry of a data-plane worker process, forked by the worker pool: it reads its WorkerConfig from
 * the environment, takes the view of the mesh from the primary, opens the plan's listeners and serves
 * until the primary tells it to drain.
 */
import cluster from 'node:cluster';
import { createJsonLogger, toMeshError } from '../../core/index.ts';
import { toWire } from '../../telemetry/exposition/wire.ts';
import { type OpenedObservability, openObservability } from '../data-plane/observability.ts';
import { closeListeners, openListeners } from '../data-plane/plan.ts';
import { createWatchSource } from '../discovery/index.ts';
import type { ProxyListener } from '../listeners/index.ts';
import { startMemoryUpkeep } from '../memory-upkeep.ts';
import { createProxy, type TrellisProxy } from '../proxy.ts';
import { defaultServicePolicy } from '../upstream/index.ts';
import { createIpcWatch } from './ipc-watch.ts';
import { isPrimaryMessage, WORKER_CONFIG_ENV, type WorkerConfig, type WorkerMessage } from './messages.ts';

const send = (message: WorkerMessage): void => {
  process.send?.(message);
};

if (!cluster.isWorker || process.send === undefined) {
  process.stderr.write('worker-main.ts runs as a worker forked by the proxy worker pool\n');
  process.exit(1);
}

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig;
const logger = createJsonLogger({ level: config.logLevel ?? 'info' }).child({ worker: cluster.worker?.id });

// A signal sent to the whole process group (Ctrl-C in a terminal, systemd stopping the unit) reaches
// the workers too. They leave shutting down to the primary, which deregisters first and then tells
// them to drain; ending here would cut the requests in flight.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

const watch = createIpcWatch();
let proxy: TrellisProxy | undefined;
let observability: OpenedObservability | undefined;
let opened: ProxyListener[] = [];
let draining = false;
let gotView!: () => void;
const firstView = new Promise<void>((resolve) => {
  gotView = resolve;
});

async function drain(): Promise<void> {
  if (draining) return;
  draining = true;
  // The ports are shared through the primary (see ProxyListener.close).
  await closeListeners(opened, config.plan, true);
  await proxy?.close();
  await observability?.close();
  process.exit(0);
}

process.on('message', (message: unknown) => {
  if (!isPrimaryMessage(message)) return;
  if (message.type === 'view') {
    if (message.snapshot !== null) watch.reset(message.snapshot);
    gotView();
  } else if (message.type === 'change') {
    watch.apply(message.change);
  } else if (message.type === 'metrics') {
    const id = message.id;
    const metrics = proxy?.metrics;
    if (metrics === undefined || metrics === null) send({ type: 'metrics', id, metrics: [] });
    else
      metrics.families().then(
        (families) => send({ type: 'metrics', id, metrics: toWire(families) }),
        (error: unknown) => {
          logger.error({ err: error }, 'proxy worker: collecting metrics failed');
          send({ type: 'metrics', id, metrics: [] });
        },
      );
  } else {
    void drain();
  }
});
send({ type: 'hello' });

// Listen only once the view is here, so the first requests a restarted worker takes find endpoints.
await firstView;
const source = createWatchSource(watch, defaultServicePolicy, {
  onError: (error) => logger.error({ err: error }, 'proxy worker: a view listener failed'),
});
try {
  observability = await openObservability(config.observability, {
    control: config.control ?? '',
    token: config.token,
    logger,
  });
} catch (error) {
  send({ type: 'failed', message: toMeshError(error).message });
  process.exit(1);
}
proxy = createProxy({
  source,
  logger,
  metrics: config.metrics === true ? { processMetrics: true } : undefined,
  tracing: observability.tracing,
  accessLog: observability.accessLog,
  busyPollMs: config.plan.busyPollMs,
});
try {
  const listeners = await openListeners(proxy, config.plan);
  opened = listeners;
  if (!draining) send({ type: 'ready', ports: listeners.map((listener) => listener.port) });
  // As the primary process does (see runDataPlane).
  startMemoryUpkeep(logger);
} catch (error) {
  if (!draining) {
    send({ type: 'failed', message: toMeshError(error).message });
    process.exit(1);
  }
}
