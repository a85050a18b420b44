/**
 * The pure part of health checking: consecutive results decide transitions.
 *   pass  → healthy after `successesBeforeHealthy` passes in a row
 *   warn  → degraded at once (the instance answers but asks for less traffic: HTTP 429)
 *   fail  → unhealthy after `failuresBeforeUnhealthy` failures in a row
 * An instance unhealthy for `deregisterAfterMs` (when > 0) is to be removed.
 */
import type { HealthCheck, HealthState, Instance } from '../../core/index.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  /** For humans: what the probe saw. */
  output: string;
}

export type HealthPolicy = Pick<
  HealthCheck,
  'successesBeforeHealthy' | 'failuresBeforeUnhealthy' | 'deregisterAfterMs'
>;

export interface HealthTracker {
  readonly health: HealthState;
  readonly successes: number;
  readonly failures: number;
  /** Clock ms since when the instance is unhealthy; undefined while it is not. */
  readonly unhealthySince: number | undefined;
}

/** Starts from what the registry holds, so a new leader keeps counting an old outage. */
export function trackerFor(instance: Pick<Instance, 'health' | 'healthChangedAt'>): HealthTracker {
  return {
    health: instance.health,
    successes: 0,
    failures: 0,
    unhealthySince: instance.health === 'unhealthy' ? instance.healthChangedAt : undefined,
  };
}

export function applyResult(
  tracker: HealthTracker,
  status: CheckStatus,
  policy: HealthPolicy,
  now: number,
): HealthTracker {
  let { health } = tracker;
  let successes = 0;
  let failures = 0;
  if (status === 'pass') {
    successes = tracker.successes + 1;
    if (successes >= policy.successesBeforeHealthy) health = 'healthy';
  } else if (status === 'warn') {
    health = 'degraded';
  } else {
    failures = tracker.failures + 1;
    if (failures >= policy.failuresBeforeUnhealthy) health = 'unhealthy';
  }
  const unhealthySince = health !== 'unhealthy' ? undefined : (tracker.unhealthySince ?? now);
  return { health, successes, failures, unhealthySince };
}

export function shouldDeregister(tracker: HealthTracker, policy: HealthPolicy, now: number): boolean {
  return (
    policy.deregisterAfterMs > 0 &&
    tracker.unhealthySince !== undefined &&
    now - tracker.unhealthySince >= policy.deregisterAfterMs
  );
}
