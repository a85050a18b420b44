import { Counter, Gauge, Registry } from 'prom-client';
import { type BreakerState, HEALTH_STATES, type HealthState } from '../core/index.ts';
import { CollectedHistogram, type HistogramSeries } from './collected-histogram.ts';
import type { MetricsSource } from './metrics-source.ts';
import {
  BREAKER_STATE_VALUE,
  DIRECTIONS,
  type Direction,
  DURATION_BUCKETS_SECONDS,
  METHODS,
  PROXY_METRICS,
  STATUS_CLASSES,
} from './names.ts';
import { collectProcessMetrics } from './process-metrics.ts';
import { ListenerStats, ProxyStats } from './proxy-stats.ts';
import { ERROR_CODE_LIST, type RequestStats, STATUS_CLASS_COUNT } from './request-stats.ts';

/** What the scrape-time gauges read from a proxy's endpoint (structurally, the proxy's own object). */
export interface EndpointView {
  readonly address: string;
  readonly port: number;
  readonly health: HealthState;
  /** Epoch ms until which balancers skip it. */
  readonly ejectedUntil: number;
  readonly breaker: { readonly state: BreakerState } | null;
}

/** What the scrape-time gauges read from a proxy's cluster. */
export interface ClusterView {
  readonly name: string;
  readonly endpoints: readonly EndpointView[];
  /** Outlier ejections so far. */
  readonly ejections: number;
}

export interface ProxyMetricsOptions {
  /** The clusters the breaker, ejection and endpoint gauges read at scrape time. */
  clusters?: () => Iterable<ClusterView>;
  /** Epoch ms (to tell which endpoints are ejected now); default Date.now. */
  now?: () => number;
  /**
   * Also collect the process's metrics (CPU, memory, event loop, GC) into this registry. Off by
   * default: a library may run several proxies in one process (and the control plane has its own);
   * a standalone sidecar or gateway process turns it on.
   */
  processMetrics?: boolean;
}

/** One proxy's metrics: its own registry, the stats its listeners record into, and the collectors. */
export interface ProxyMetrics extends MetricsSource {
  readonly registry: Registry;
  readonly stats: ProxyStats;
  /** What listeners of this direction record into (one per direction, shared by its listeners). */
  listener(direction: Direction): ListenerStats;
}

export function createProxyMetrics(options: ProxyMetricsOptions = {}): ProxyMetrics {
  const registry = new Registry();
  const stats = new ProxyStats();
  const listeners = new Map<Direction, ListenerStats>();
  const clusters = options.clusters ?? (() => []);
  const now = options.now ?? Date.now;
  registerTrafficMetrics(registry, stats);
  registerClusterMetrics(registry, clusters, now);
  if (options.processMetrics === true) collectProcessMetrics(registry);
  return {
    registry,
    contentType: registry.contentType,
    stats,
    listener(direction) {
      let listener = listeners.get(direction);
      if (listener === undefined) {
        if (!DIRECTIONS.includes(direction)) throw new TypeError(`unknown direction "${direction}"`);
        listener = new ListenerStats(stats, direction);
        listeners.set(direction, listener);
      }
      return listener;
    },
    text: () => registry.metrics(),
  };
}

function trafficLabels(s: RequestStats): Record<string, string> {
  return { service: s.service, route: s.route, direction: s.direction };
}

/** Per-request counters and the duration histogram, read from the RequestStats at scrape time. */
function registerTrafficMetrics(registry: Registry, stats: ProxyStats): void {
  const registers = [registry];
  const names = PROXY_METRICS;
  new Counter({
    name: names.requests.name,
    help: names.requests.help,
    labelNames: names.requests.labels,
    registers,
    collect() {
      this.reset();
      for (const s of stats.values()) {
        const requests = s.requests;
        for (let i = 0; i < requests.length; i++) {
          const n = requests[i];
          if (n === 0) continue;
          this.inc(
            {
              service: s.service,
              route: s.route,
              method: METHODS[(i / STATUS_CLASS_COUNT) | 0],
              status_class: STATUS_CLASSES[i % STATUS_CLASS_COUNT],
              direction: s.direction,
            },
            n,
          );
        }
      }
    },
  });
  new CollectedHistogram(
    names.duration.name,
    names.duration.help,
    DURATION_BUCKETS_SECONDS,
    function* (): Iterable<HistogramSeries> {
      for (const s of stats.values()) {
        yield { labels: trafficLabels(s), buckets: s.buckets, sum: s.durationSumMs / 1000 };
      }
    },
    registry,
  );
  const perStats = (
    metric: { name: string; help: string; labels: readonly string[] },
    read: (s: RequestStats) => number,
  ): void => {
    new Counter({
      name: metric.name,
      help: metric.help,
      labelNames: metric.labels,
      registers,
      collect() {
        this.reset();
        for (const s of stats.values()) this.inc(trafficLabels(s), read(s));
      },
    });
  };
  perStats(names.connectErrors, (s) => s.connectErrors);
  perStats(names.retries, (s) => s.retries);
  perStats(names.budgetExhausted, (s) => s.budgetExhausted);
  perStats(names.overflowed, (s) => s.overflowed);
  perStats(names.rateLimited, (s) => s.rateLimited);
  new Counter({
    name: names.meshErrors.name,
    help: names.meshErrors.help,
    labelNames: names.meshErrors.labels,
    registers,
    collect() {
      this.reset();
      for (const s of stats.values()) {
        const errors = s.errors;
        for (let i = 0; i < errors.length; i++) {
          if (errors[i] === 0) continue;
          this.inc({ ...trafficLabels(s), code: ERROR_CODE_LIST[i] }, errors[i]);
        }
      }
    },
  });
}

/** Breaker state, ejections and endpoints by health, read from the clusters at scrape time. */
function registerClusterMetrics(
  registry: Registry,
  clusters: () => Iterable<ClusterView>,
  now: () => number,
): void {
  const registers = [registry];
  const names = PROXY_METRICS;
  new Gauge({
    name: names.breakerState.name,
    help: names.breakerState.help,
    labelNames: names.breakerState.labels,
    registers,
    // With --workers every worker reports its own value: the worst (max) is the proxy's, not the sum.
    aggregator: 'max',
    collect() {
      this.reset();
      for (const cluster of clusters()) {
        for (const endpoint of cluster.endpoints) {
          if (endpoint.breaker === null) continue;
          this.set(
            { service: cluster.name, endpoint: `${endpoint.address}:${endpoint.port}` },
            BREAKER_STATE_VALUE[endpoint.breaker.state],
          );
        }
      }
    },
  });
  new Counter({
    name: names.ejections.name,
    help: names.ejections.help,
    labelNames: names.ejections.labels,
    registers,
    collect() {
      this.reset();
      for (const cluster of clusters()) this.inc({ service: cluster.name }, cluster.ejections);
    },
  });
  new Gauge({
    name: names.ejected.name,
    help: names.ejected.help,
    labelNames: names.ejected.labels,
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      const at = now();
      for (const cluster of clusters()) {
        let ejected = 0;
        for (const endpoint of cluster.endpoints) if (endpoint.ejectedUntil > at) ejected++;
        this.set({ service: cluster.name }, ejected);
      }
    },
  });
  new Gauge({
    name: names.endpoints.name,
    help: names.endpoints.help,
    labelNames: names.endpoints.labels,
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const cluster of clusters()) {
        const counts: Record<HealthState, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
        for (const endpoint of cluster.endpoints) counts[endpoint.health]++;
        for (const health of HEALTH_STATES) this.set({ service: cluster.name, health }, counts[health]);
      }
    },
  });
}
