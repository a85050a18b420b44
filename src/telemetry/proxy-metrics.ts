import { type BreakerState, HEALTH_STATES, type HealthState } from '../core/index.ts';
import {
  type Aggregation,
  type Family,
  type FamilySource,
  type HistogramSample,
  type LabelSet,
  PROMETHEUS_CONTENT_TYPE,
  renderFamilies,
  type Sample,
} from './exposition/index.ts';
import type { MetricsSource } from './metrics-source.ts';
import {
  BREAKER_STATE_VALUE,
  DIRECTIONS,
  type Direction,
  DURATION_BUCKETS_SECONDS,
  METHODS,
  type MetricName,
  PROXY_METRICS,
  STATUS_CLASSES,
} from './names.ts';
import { createProcessMetrics, type ProcessMetrics } from './process-metrics.ts';
import { ListenerStats, ProxyStats } from './proxy-stats.ts';
import { ERROR_CODE_LIST, STATUS_CLASS_COUNT } from './request-stats.ts';

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

/**
 * A proxy process samples its event-loop delay every 100 ms, not every 10 ms as prom-client (and the
 * control plane) does: Node's sampling timer wakes the event loop each time, busy or not. An idle
 * sidecar with its metrics on woke its main thread 98-100 times a second, 11-13 with this, and used
 * 10-16.5 ms of CPU a second against 5.5-8 (harness, three pairs; at 1,000 req/s the difference is
 * within run-to-run spread, in CPU per request and in latency). The figures stay on prom-client's
 * scale (process-metrics.ts); a stall of 100 ms or more is always caught, a shorter one in proportion
 * to its length.
 */
const PROXY_EVENT_LOOP_RESOLUTION_MS = 100;

export interface ProxyMetricsOptions {
  /** The clusters the breaker, ejection and endpoint gauges read at scrape time. */
  clusters?: () => Iterable<ClusterView>;
  /** Epoch ms (to tell which endpoints are ejected now); default Date.now. */
  now?: () => number;
  /**
   * Also report the process's metrics (CPU, memory, event loop, GC). Off by default: a library may
   * run several proxies in one process (and the control plane has its own); a standalone sidecar or
   * gateway process turns it on.
   */
  processMetrics?: boolean;
}

/**
 * One proxy's metrics: the stats its listeners record into, read into metric families at scrape time
 * (`families()` for a primary aggregating its workers or a control node including them, `text()` for
 * a scraper).
 */
export interface ProxyMetrics extends MetricsSource, FamilySource {
  readonly stats: ProxyStats;
  /** What listeners of this direction record into (one per direction, shared by its listeners). */
  listener(direction: Direction): ListenerStats;
  /** Stops the process metrics' event-loop monitor and GC observer (nothing to do without them). */
  close(): void;
}

export function createProxyMetrics(options: ProxyMetricsOptions = {}): ProxyMetrics {
  const stats = new ProxyStats();
  const listeners = new Map<Direction, ListenerStats>();
  const clusters = options.clusters ?? (() => []);
  const now = options.now ?? Date.now;
  const processMetrics: ProcessMetrics | undefined =
    options.processMetrics === true
      ? createProcessMetrics({ eventLoopResolutionMs: PROXY_EVENT_LOOP_RESOLUTION_MS })
      : undefined;
  const names = [
    ...Object.values(PROXY_METRICS).map((metric) => metric.name),
    ...(processMetrics?.names ?? []),
  ];

  async function families(): Promise<Family[]> {
    const processFamilies = processMetrics === undefined ? [] : await processMetrics.families();
    // Read after the await, in one go, so that the traffic families agree with each other.
    return [...trafficFamilies(stats), ...clusterFamilies(clusters(), now()), ...processFamilies];
  }

  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    names,
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
    families,
    text: async () => renderFamilies(await families()),
    close() {
      processMetrics?.close();
    },
  };
}

function counter(metric: MetricName, samples: Sample[]): Family {
  return { name: metric.name, help: metric.help, type: 'counter', aggregation: 'sum', samples };
}

function gauge(metric: MetricName, aggregation: Aggregation, samples: Sample[]): Family {
  return { name: metric.name, help: metric.help, type: 'gauge', aggregation, samples };
}

/** Per-request counters and the duration histogram, read from the RequestStats. */
function trafficFamilies(stats: ProxyStats): Family[] {
  const names = PROXY_METRICS;
  const requests: Sample[] = [];
  const durations: HistogramSample[] = [];
  const connectErrors: Sample[] = [];
  const retries: Sample[] = [];
  const budgetExhausted: Sample[] = [];
  const overflowed: Sample[] = [];
  const rateLimited: Sample[] = [];
  const meshErrors: Sample[] = [];
  for (const s of stats.values()) {
    const labels: LabelSet = { service: s.service, route: s.route, direction: s.direction };
    const counts = s.requests;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] === 0) continue;
      const method = METHODS[(i / STATUS_CLASS_COUNT) | 0];
      const statusClass = STATUS_CLASSES[i % STATUS_CLASS_COUNT];
      requests.push({
        labels: {
          service: s.service,
          route: s.route,
          method,
          status_class: statusClass,
          direction: s.direction,
        },
        value: counts[i],
      });
    }
    durations.push({ labels, counts: s.buckets.slice(), sum: s.durationSumMs / 1000 });
    connectErrors.push({ labels, value: s.connectErrors });
    retries.push({ labels, value: s.retries });
    budgetExhausted.push({ labels, value: s.budgetExhausted });
    overflowed.push({ labels, value: s.overflowed });
    rateLimited.push({ labels, value: s.rateLimited });
    const errors = s.errors;
    for (let i = 0; i < errors.length; i++) {
      if (errors[i] === 0) continue;
      meshErrors.push({ labels: { ...labels, code: ERROR_CODE_LIST[i] }, value: errors[i] });
    }
  }
  return [
    counter(names.requests, requests),
    {
      name: names.duration.name,
      help: names.duration.help,
      type: 'histogram',
      aggregation: 'sum',
      bounds: DURATION_BUCKETS_SECONDS,
      samples: durations,
    },
    counter(names.connectErrors, connectErrors),
    counter(names.retries, retries),
    counter(names.budgetExhausted, budgetExhausted),
    counter(names.overflowed, overflowed),
    counter(names.rateLimited, rateLimited),
    counter(names.meshErrors, meshErrors),
  ];
}

/**
 * Breaker state, ejections and endpoints by health, read from the clusters. With --workers every
 * worker reports its own view: the gauges are combined by the worst (max) value, not summed.
 */
function clusterFamilies(clusters: Iterable<ClusterView>, at: number): Family[] {
  const names = PROXY_METRICS;
  const breakers: Sample[] = [];
  const ejections: Sample[] = [];
  const ejected: Sample[] = [];
  const endpoints: Sample[] = [];
  for (const cluster of clusters) {
    const service = cluster.name;
    const counts: Record<HealthState, number> = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
    let ejectedNow = 0;
    for (const endpoint of cluster.endpoints) {
      counts[endpoint.health]++;
      if (endpoint.ejectedUntil > at) ejectedNow++;
      if (endpoint.breaker === null) continue;
      breakers.push({
        labels: { service, endpoint: `${endpoint.address}:${endpoint.port}` },
        value: BREAKER_STATE_VALUE[endpoint.breaker.state],
      });
    }
    const labels: LabelSet = { service };
    ejections.push({ labels, value: cluster.ejections });
    ejected.push({ labels, value: ejectedNow });
    for (const health of HEALTH_STATES)
      endpoints.push({ labels: { service, health }, value: counts[health] });
  }
  return [
    gauge(names.breakerState, 'max', breakers),
    counter(names.ejections, ejections),
    gauge(names.ejected, 'max', ejected),
    gauge(names.endpoints, 'max', endpoints),
  ];
}
