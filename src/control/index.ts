export { assertSafeBinding, isLoopbackHost } from './auth.ts';
export { type ControlNode, type ControlNodeOptions, startControlNode } from './node.ts';
export {
  type ControlServer,
  type ControlServerOptions,
  createControlServer,
  type ListenAddress,
} from './server.ts';
export { createWatchHub, type WatchHub, type WatchHubOptions } from './watch.ts';
