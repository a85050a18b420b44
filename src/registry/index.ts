export { type AlertRuleStore, type AlertRuleStoreOptions, createAlertRuleStore } from './alert-rules.ts';
export { createHealthChecker, type HealthChecker, type HealthCheckerOptions } from './health/checker.ts';
export {
  createLeaderElection,
  type LeaderElection,
  type LeaderElectionOptions,
  type StopOptions,
} from './health/leader.ts';
export { createRegistry, type RegistryOptions } from './registry.ts';
export type * from './types.ts';
