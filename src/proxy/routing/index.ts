export { normalizePath } from './normalize.ts';
export {
  type CompiledRoute,
  compileRoutes,
  type HeaderSource,
  headerValues,
  type RouteCompileError,
  RouteTable,
  stripPrefix,
  underPrefix,
} from './route-table.ts';
export {
  type AbsoluteTarget,
  DAPR_PREFIX,
  type DaprTarget,
  hostName,
  hostOf,
  splitAbsolute,
  splitDapr,
} from './target.ts';
