export { type ClusterView, describeCluster, type EndpointView } from './api/proxy-admin.ts';
export { assertSafeBinding, isLoopbackHost } from './auth.ts';
export { createRegistrySource, type RegistrySource } from './discovery-source.ts';
export { createMeshInvoker, type MeshInvoker, type MeshInvokerOptions } from './invoker.ts';
export { type ControlNode, type ControlNodeOptions, startControlNode } from './node.ts';
export { type NodeProxy, type NodeProxyOptions, startNodeProxy } from './node-proxy.ts';
export {
  type ControlServer,
  type ControlServerOptions,
  createControlServer,
  type ListenAddress,
} from './server.ts';
export { createWatchHub, type ResumePoint, type WatchHub, type WatchHubOptions } from './watch.ts';
