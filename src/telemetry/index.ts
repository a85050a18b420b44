/**
 * Trellis's telemetry.
 *
 * Metrics: proxies record into preallocated counters on the request path (RequestStats, reached
 * through the cluster or route the engine holds), read into metric families at scrape time and
 * rendered with a small exposition of their own (exposition/, no prom-client on the data plane); a
 * control node keeps a prom-client Registry for its own metrics and adds its proxies' families.
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
export {
  type ControlMetrics,
  type ControlMetricsOptions,
  createControlMetrics,
  HealthCheckStats,
} from './control-metrics.ts';
export {
  type Aggregation,
  aggregateFamilies,
  escapeHelp,
  escapeLabelValue,
  type Family,
  type FamilySource,
  type FamilyType,
  formatValue,
  fromWire,
  type HistogramFamily,
  type HistogramSample,
  type LabelSet,
  PROMETHEUS_CONTENT_TYPE,
  renderFamilies,
  type Sample,
  type ScalarFamily,
  toWire,
  type WireFamily,
} from './exposition/index.ts';
export {
  LATENCY_BINS,
  LATENCY_BOUNDS_MS,
  LatencySeries,
  MAX_WINDOW_MS,
  MIN_WINDOW_MS,
  type WindowFigures,
} from './latency-window.ts';
export type { MetricsSource } from './metrics-source.ts';
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
export { createProcessMetrics, type ProcessMetrics } from './process-metrics.ts';
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
