/**
 * Trellis's data plane: the HTTP/1.1 proxy engine and its three listener modes (gateway, sidecar
 * outbound and inbound), the clusters (balancing, circuit breaking, outlier detection, concurrency
 * limits, retry budgets, connection pools) and the sources they are fed from.
 */
export { createHttp1Transport, createSpanPoster } from './control-link/index.ts';
export {
  type DataPlane,
  type DataPlaneOptions,
  type DataPlanePlan,
  type ListenerAddress,
  type ListenerSpec,
  startDataPlane,
} from './data-plane/index.ts';
export {
  createStaticSource,
  createWatchSource,
  type DiscoverySource,
  type MeshWatchLike,
  type StaticSource,
  type StaticSourceInput,
  type WatchSource,
  type WatchSourceOptions,
} from './discovery/index.ts';
export { type Gateway, type GatewayOptions, startGateway } from './edge-gateway.ts';
export { type CannedResponse, cannedResponse, MESH_ERRORS } from './error-responses.ts';
export { dropStartupCode } from './heap-collections.ts';
export {
  type IdleCompaction,
  type IdleCompactionOptions,
  startIdleCompaction,
} from './idle-compaction.ts';
export {
  createGatewayListener,
  createInboundListener,
  createOutboundListener,
  type GatewayListenerOptions,
  type InboundListenerOptions,
  type ListenerOptions,
  type MetricsServer,
  type OutboundListenerOptions,
  type ProxyListener,
  type ServeMetricsOptions,
  serveMetrics,
} from './listeners/index.ts';
export {
  loadMallocTrim,
  type MallocRelease,
  type MallocReleaseOptions,
  startMallocRelease,
  type TrimMalloc,
} from './malloc-release.ts';
export { startMemoryUpkeep } from './memory-upkeep.ts';
export { createProxy, type InboundOptions, type ProxyDeps, type TrellisProxy } from './proxy.ts';
export { compileRoutes, type RouteTable } from './routing/index.ts';
export { type Sidecar, type SidecarOptions, startSidecar } from './sidecar/index.ts';
export {
  Cluster,
  ClusterManager,
  defaultServicePolicy,
  type ExchangeSettings,
  type PoolOptions,
  type UpstreamEndpoint,
} from './upstream/index.ts';
