export { type DataPlane, type DataPlaneOptions, startDataPlane } from './data-plane.ts';
export {
  type ObservabilitySettings,
  type OpenedObservability,
  openObservability,
} from './observability.ts';
export { type DataPlanePlan, type ListenerAddress, type ListenerSpec, openListeners } from './plan.ts';
export type { ProxyProcessOptions } from './process-options.ts';
