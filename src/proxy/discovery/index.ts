export { ChangeListeners, type DiscoverySource } from './source.ts';
export { createStaticSource, type StaticSource, type StaticSourceInput } from './static-source.ts';
export {
  createWatchSource,
  type MeshWatchLike,
  type WatchSource,
  type WatchSourceOptions,
} from './watch-source.ts';
