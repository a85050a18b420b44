/**
 * Trellis's telemetry.
 *
 * Metrics: proxies record into preallocated counters on the request path (RequestStats, reached
 * through the cluster or route the engine holds); each proxy and each control node has its own
 * prom-client Registry whose collectors read those counters at scrape time.
 */
export {
  type AccessLog,
  type AccessLogDestination,
  type AccessLogOptions,
  type AccessRecord,
  createAccessRecord,
  openAccessLog,
  resetAccessRecord,
} from './access-log.ts';
export { CollectedHistogram, type HistogramSeries } from './collected-histogram.ts';
export {
  type ControlMetrics,
  type ControlMetricsOptions,
  createControlMetrics,
  HealthCheckStats,
} from './control-metrics.ts';
export {
  LATENCY_BINS,
  LATENCY_BOUNDS_MS,
  LatencySeries,
  MAX_WINDOW_MS,
  MIN_WINDOW_MS,
  type WindowFigures,
} from './latency-window.ts';
export { type MetricsServer, type ServeMetricsOptions, serveMetrics } from './metrics-server.ts';
export { type MetricsSource, mergedText, sharedMetricNames } from './metrics-source.ts';
export {
  BREAKER_STATE_VALUE,
  CHECK_RESULTS,
  type CheckResultLabel,
  CONTROL_METRICS,
  DIRECTIONS,
  type Direction,
  DURATION_BUCKETS_SECONDS,
  LABEL,
  METHODS,
  type MetricName,
  PROXY_METRICS,
  STATUS_CLASSES,
  UNKNOWN_SERVICE,
} from './names.ts';
export {
  type ClusterView,
  createProxyMetrics,
  type EndpointView,
  type ProxyMetrics,
  type ProxyMetricsOptions,
} from './proxy-metrics.ts';
export {
  type ClusterStatsHolder,
  ListenerStats,
  ProxyStats,
  type RouteStatsHolder,
  type StatsHolder,
  statsSlots,
} from './proxy-stats.ts';
export {
  BUCKET_BOUNDS_MS,
  bucketIndex,
  ERROR_CODE_LIST,
  errorCodeIndex,
  METHOD_COUNT,
  methodIndex,
  RequestStats,
  STATUS_CLASS_COUNT,
  statusClassIndex,
} from './request-stats.ts';
export { createSpanMetrics, type SpanMetricsOptions } from './span-metrics.ts';
export {
  createMeshStats,
  emptyFigures,
  MeshStats,
  type MeshStatsOptions,
  type StatsFigures,
  type StatsSnapshot,
} from './stats.ts';
export {
  createServiceGraph,
  type GraphQuery,
  ServiceGraph,
  type ServiceGraphOptions,
  type Topology,
  type TopologyEdge,
  type TopologyNode,
} from './topology.ts';
// Tracing: W3C/B3 context, the per-hop recorder, OTLP in and out, the span collector.
export * from './tracing/index.ts';
