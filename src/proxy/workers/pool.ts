import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/index.ts';
import {
  backoffCeiling,
  type Clock,
  deferredExtraCaEnvironment,
  type MeshChange,
  MeshError,
  type MeshSnapshot,
  systemClock,
  type TimerHandle,
} from '../../core/index.ts';
import { aggregateFamilies } from '../../telemetry/exposition/aggregate.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../../telemetry/exposition/family.ts';
import { renderFamilies } from '../../telemetry/exposition/render.ts';
import { fromWire } from '../../telemetry/exposition/wire.ts';
import type { ObservabilitySettings } from '../data-plane/observability.ts';
import type { DataPlanePlan } from '../data-plane/plan.ts';
import { workerExecArgv } from './exec-argv.ts';
import {
  isWorkerMessage,
  type PrimaryMessage,
  WORKER_CONFIG_ENV,
  type WorkerConfig,
  type WorkerMetrics,
} from './messages.ts';

/** This module runs from src/ (TypeScript, under tsx) or from the build in dist/ (plain JavaScript). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_MAIN = fileURLToPath(
  new URL(FROM_SOURCE ? './worker-main.ts' : './worker-main.js', import.meta.url),
);

export interface WorkerPoolOptions {
  /** How many worker processes (at least 1). */
  count: number;
  plan: DataPlanePlan;
  /** The view a starting (or restarted) worker is given first. */
  view(): MeshSnapshot | undefined;
  logger: Logger;
  /** The workers' log level (default: the logger's). */
  logLevel?: string;
  clock?: Clock;
  /** How long the workers may take to listen (default 30 s). */
  startTimeoutMs?: number;
  /** A crashed worker is forked again after base·2^(crashes-1) ms, at most cap (defaults 250 ms, 10 s). */
  restartBackoff?: { baseMs: number; capMs: number };
  /** Tracing and the access log of every worker; spans go to `control`. */
  observability?: ObservabilitySettings;
  control?: string;
  token?: string;
  /** The workers keep metrics, which `metrics()` aggregates. */
  metrics?: boolean;
}

/** N processes running the same plan on the same ports (node:cluster). */
export interface WorkerPool {
  /** Forks the workers; resolves once every one listens. On failure the pool is drained first. */
  start(): Promise<void>;
  /** The listeners' ports, in plan order (once started). */
  readonly ports: readonly number[];
  /** The pids of the workers running now. */
  pids(): number[];
  /** Sends the view to every worker (after a new snapshot). */
  view(snapshot: MeshSnapshot): void;
  /** Sends one change to every worker. */
  change(change: MeshChange): void;
  /** Tells every worker to drain and waits until they have exited. */
  drain(): Promise<void>;
  /**
   * The workers' metrics combined into one Prometheus text (each family by its aggregation: counters
   * and histograms summed, worst-of gauges by max); a worker that does not answer within the timeout
   * is left out of this scrape.
   */
  metrics(): Promise<string>;
  readonly metricsContentType: string;
}

/** How long a scrape waits for each worker's metrics. */
const METRICS_TIMEOUT_MS = 5_000;

/**
 * Round-robin in the primary (SCHED_RR, Node's default on Linux) rather than the kernel's choice
 * (SCHED_NONE). Measured with wrk on this 2-core machine, shared with other work (gateway, 2 workers,
 * nginx upstream, alternating 5 s runs, 64 keep-alive connections): no throughput difference beyond
 * run-to-run noise (SCHED_RR vs SCHED_NONE, mean req/s: 45k vs 34k in one round, 30k vs 34k in
 * another), because a keep-alive connection is placed once and the primary is idle afterwards.
 * SCHED_NONE accepted about 1.8x more new connections per second (no hand-off through the primary),
 * which matters only to clients that open a connection per request; but it placed connections less
 * evenly (3 of 4, 6 of 8 on one worker), and placement lasts as long as the few long-lived
 * connections an app keeps to its sidecar. NODE_CLUSTER_SCHED_POLICY=none picks the other.
 */
function chooseSchedulingPolicy(): void {
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
}

/** A worker stops counting as crash-looping once it has served this long. */
const STABLE_MS = 10_000;
/** Beyond the plan's drain timeout, how long a draining worker may take before it is killed. */
const DRAIN_GRACE_MS = 5_000;

interface Slot {
  index: number;
  worker: Worker | undefined;
  /** Set when the worker said hello: it is sent the view and every change. */
  subscribed: boolean;
  readyAt: number | undefined;
  crashes: number;
  restart: TimerHandle | undefined;
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  if (!cluster.isPrimary) throw new MeshError('INTERNAL', 'a proxy worker cannot start workers of its own');
  const { logger, plan } = options;
  const clock = options.clock ?? systemClock;
  const backoff = options.restartBackoff ?? { baseMs: 250, capMs: 10_000 };
  const config: WorkerConfig = {
    plan,
    logLevel: options.logLevel ?? logger.level,
    observability: options.observability,
    control: options.control,
    token: options.token,
    metrics: options.metrics,
  };
  // Workers load NODE_EXTRA_CA_CERTS only when their control link needs it, as the main process does.
  const workerEnvironment = deferredExtraCaEnvironment(process.env, process.execArgv);
  const metricsWaiters = new Map<number, (metrics: WorkerMetrics | undefined) => void>();
  let metricsRequests = 0;
  const slots: Slot[] = Array.from({ length: options.count }, (_, index) => ({
    index,
    worker: undefined,
    subscribed: false,
    readyAt: undefined,
    crashes: 0,
    restart: undefined,
  }));
  const exits = new Map<Worker, Promise<void>>();
  let ports: number[] | undefined;
  let draining = false;
  let starting: { ready: Set<number>; resolve: () => void; reject: (error: MeshError) => void } | undefined;

  function send(slot: Slot, message: PrimaryMessage): void {
    if (slot.worker === undefined || !slot.subscribed || !slot.worker.isConnected()) return;
    slot.worker.send(message);
  }

  function fork(slot: Slot): void {
    chooseSchedulingPolicy();
    cluster.setupPrimary({
      exec: WORKER_MAIN,
      execArgv: workerExecArgv(process.execArgv, FROM_SOURCE),
      args: [],
    });
    const worker = cluster.fork({ ...workerEnvironment, [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    slot.worker = worker;
    slot.subscribed = false;
    slot.readyAt = undefined;
    exits.set(
      worker,
      new Promise((resolve) =>
        worker.once('exit', (code, signal) => {
          exits.delete(worker);
          resolve();
          exited(slot, worker, code, signal);
        }),
      ),
    );
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message) || slot.worker !== worker) return;
      if (message.type === 'hello') {
        slot.subscribed = true;
        send(slot, { type: 'view', snapshot: options.view() ?? null });
      } else if (message.type === 'ready') {
        slot.readyAt = clock.now();
        ready(slot, message.ports);
      } else if (message.type === 'metrics') {
        metricsWaiters.get(message.id)?.(message.metrics);
      } else {
        const error = new MeshError('INTERNAL', message.message);
        if (starting !== undefined) starting.reject(error);
        else logger.error({ worker: worker.process.pid, err: error }, 'proxy worker could not listen');
      }
    });
    // Errors of the IPC channel surface as an exit; nothing to add here.
    worker.on('error', (error) => logger.debug({ err: error }, 'proxy worker: channel error'));
  }

  function ready(slot: Slot, workerPorts: number[]): void {
    ports ??= workerPorts;
    if (workerPorts.join() !== ports.join())
      logger.error(
        { ports: workerPorts, expected: ports },
        'proxy worker listens on other ports than the rest',
      );
    logger.debug({ worker: slot.worker?.process.pid, ports: workerPorts }, 'proxy worker ready');
    if (starting !== undefined) {
      starting.ready.add(slot.index);
      if (starting.ready.size === slots.length) starting.resolve();
    } else {
      logger.info({ worker: slot.worker?.process.pid }, 'proxy worker restarted');
    }
  }

  function exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.subscribed = false;
    if (draining) return;
    if (starting !== undefined) {
      starting.reject(
        new MeshError('INTERNAL', `a proxy worker exited while starting (${signal ?? `code ${code}`})`),
      );
      return;
    }
    if (slot.readyAt !== undefined && clock.now() - slot.readyAt >= STABLE_MS) slot.crashes = 0;
    slot.crashes++;
    const delay = backoffCeiling(backoff.baseMs, backoff.capMs, slot.crashes);
    logger.error(
      { worker: worker.process.pid, code, signal, restartInMs: delay },
      'proxy worker exited; starting another',
    );
    slot.restart = clock.setTimeout(() => {
      slot.restart = undefined;
      if (!draining) fork(slot);
    }, delay);
  }

  let drained: Promise<void> | undefined;
  function drain(): Promise<void> {
    drained ??= drainAll();
    return drained;
  }

  async function drainAll(): Promise<void> {
    draining = true;
    for (const slot of slots) {
      if (slot.restart !== undefined) clock.clearTimeout(slot.restart);
      slot.restart = undefined;
      const worker = slot.worker;
      if (worker === undefined) continue;
      // One that has not said hello may not hear the message yet, and serves nothing.
      if (slot.subscribed && worker.isConnected()) worker.send({ type: 'drain' } satisfies PrimaryMessage);
      else worker.process.kill('SIGKILL');
    }
    const all = Promise.all([...exits.values()]);
    let timer: TimerHandle | undefined;
    const late = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, plan.drainTimeoutMs + DRAIN_GRACE_MS);
    });
    await Promise.race([all, late]);
    if (timer !== undefined) clock.clearTimeout(timer);
    if (exits.size > 0) {
      logger.warn({ workers: exits.size }, 'proxy workers did not finish draining in time; killing them');
      for (const worker of exits.keys()) worker.process.kill('SIGKILL');
      await all;
    }
  }

  async function start(): Promise<void> {
    const startTimeoutMs = options.startTimeoutMs ?? 30_000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = clock.setTimeout(
          () =>
            fail(new MeshError('INTERNAL', `the proxy workers did not listen within ${startTimeoutMs} ms`)),
          startTimeoutMs,
        );
        const fail = (error: MeshError) => {
          clock.clearTimeout(timer);
          starting = undefined;
          reject(error);
        };
        starting = {
          ready: new Set(),
          resolve() {
            clock.clearTimeout(timer);
            starting = undefined;
            resolve();
          },
          reject: fail,
        };
        for (const slot of slots) fork(slot);
      });
    } catch (error) {
      await drain();
      throw error;
    }
  }

  function workerMetrics(slot: Slot): Promise<WorkerMetrics | undefined> {
    const worker = slot.worker;
    if (worker === undefined || !slot.subscribed || !worker.isConnected()) return Promise.resolve(undefined);
    const id = ++metricsRequests;
    return new Promise((resolve) => {
      const done = (metrics: WorkerMetrics | undefined) => {
        clock.clearTimeout(timer);
        worker.off('exit', gone);
        metricsWaiters.delete(id);
        resolve(metrics);
      };
      const gone = () => done(undefined);
      const timer = clock.setTimeout(gone, METRICS_TIMEOUT_MS);
      worker.once('exit', gone);
      metricsWaiters.set(id, done);
      worker.send({ type: 'metrics', id } satisfies PrimaryMessage);
    });
  }

  return {
    start,
    metricsContentType: PROMETHEUS_CONTENT_TYPE,
    async metrics() {
      const answers = await Promise.all(slots.map(workerMetrics));
      const present = answers.filter((metrics) => metrics !== undefined);
      return renderFamilies(aggregateFamilies(present.map(fromWire)));
    },
    get ports() {
      return ports ?? [];
    },
    pids: () =>
      slots.flatMap((slot) => (slot.worker?.process.pid === undefined ? [] : [slot.worker.process.pid])),
    view(snapshot) {
      for (const slot of slots) send(slot, { type: 'view', snapshot });
    },
    change(change) {
      for (const slot of slots) send(slot, { type: 'change', change });
    },
    drain,
  };
}
