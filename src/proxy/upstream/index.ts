export { Cluster, type ClusterDeps, type ClusterWaiter, type UpstreamEndpoint } from './cluster.ts';
export { ClusterManager, type ClusterManagerDeps } from './cluster-manager.ts';
export { defaultServicePolicy } from './default-policy.ts';
export { H2Session, H2SessionPool, type H2SessionPoolOptions } from './h2-session-pool.ts';
export {
  type PoolAddress,
  type PoolOptions,
  UpstreamConnection,
  type UpstreamOwner,
  UpstreamPool,
} from './pool.ts';
export { ReadBufferPool, ReadTarget } from './read-buffers.ts';
export { type ExchangeSettings, exchangeSettings, hasOverrides } from './settings.ts';
