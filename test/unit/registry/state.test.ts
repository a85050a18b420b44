import { describe, expect, it } from 'vitest';
import {
  applyResult,
  type CheckStatus,
  type HealthPolicy,
  type HealthTracker,
  shouldDeregister,
  trackerFor,
} from '../../../src/registry/health/state.ts';

const policy: HealthPolicy = { successesBeforeHealthy: 2, failuresBeforeUnhealthy: 3, deregisterAfterMs: 0 };

function run(tracker: HealthTracker, statuses: CheckStatus[], p = policy, startAt = 0): HealthTracker[] {
  const out: HealthTracker[] = [];
  let now = startAt;
  for (const status of statuses) {
    tracker = applyResult(tracker, status, p, now);
    out.push(tracker);
    now += 1000;
  }
  return out;
}

const unknown = trackerFor({ health: 'unknown', healthChangedAt: 0 });

describe('health state transitions', () => {
  it('turns healthy after successesBeforeHealthy passes in a row', () => {
    expect(run(unknown, ['pass', 'pass']).map((t) => t.health)).toEqual(['unknown', 'healthy']);
  });

  it('a failure resets the run of passes', () => {
    expect(run(unknown, ['pass', 'fail', 'pass', 'pass']).map((t) => t.health)).toEqual([
      'unknown',
      'unknown',
      'unknown',
      'healthy',
    ]);
  });

  it('turns unhealthy after failuresBeforeUnhealthy failures in a row, from unknown or healthy', () => {
    expect(run(unknown, ['fail', 'fail', 'fail']).map((t) => t.health)).toEqual([
      'unknown',
      'unknown',
      'unhealthy',
    ]);
    const healthy = trackerFor({ health: 'healthy', healthChangedAt: 0 });
    expect(run(healthy, ['fail', 'fail', 'pass', 'fail', 'fail', 'fail']).map((t) => t.health)).toEqual([
      'healthy',
      'healthy',
      'healthy',
      'healthy',
      'healthy',
      'unhealthy',
    ]);
  });

  it('a warning (429) degrades at once and recovers after enough passes', () => {
    const healthy = trackerFor({ health: 'healthy', healthChangedAt: 0 });
    expect(run(healthy, ['warn', 'pass', 'pass']).map((t) => t.health)).toEqual([
      'degraded',
      'degraded',
      'healthy',
    ]);
    expect(run(unknown, ['warn']).map((t) => t.health)).toEqual(['degraded']);
  });

  it('an unhealthy instance that answers 429 is degraded', () => {
    const unhealthy = trackerFor({ health: 'unhealthy', healthChangedAt: 0 });
    expect(applyResult(unhealthy, 'warn', policy, 5).health).toBe('degraded');
  });

  it('with thresholds of 1 every result switches state', () => {
    const eager = { ...policy, successesBeforeHealthy: 1, failuresBeforeUnhealthy: 1 };
    expect(run(unknown, ['pass', 'fail', 'warn', 'pass'], eager).map((t) => t.health)).toEqual([
      'healthy',
      'unhealthy',
      'degraded',
      'healthy',
    ]);
  });

  it('does not mutate the tracker it is given', () => {
    const before = { ...unknown };
    applyResult(unknown, 'pass', policy, 1);
    expect(unknown).toEqual(before);
  });
});

describe('deregistration after a long outage', () => {
  const p = { ...policy, failuresBeforeUnhealthy: 1, deregisterAfterMs: 5000 };

  it('counts from the moment the instance became unhealthy', () => {
    const trackers = run(unknown, ['fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'fail'], p, 10_000);
    expect(trackers[0]!.unhealthySince).toBe(10_000);
    expect(trackers.map((t, i) => shouldDeregister(t, p, 10_000 + i * 1000))).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
      true,
    ]);
  });

  it('recovery clears the clock', () => {
    const [, , recovered] = run(unknown, ['fail', 'pass', 'pass'], p);
    expect(recovered!.unhealthySince).toBeUndefined();
    expect(shouldDeregister(recovered!, p, 1_000_000)).toBe(false);
  });

  it('never deregisters when deregisterAfterMs is 0', () => {
    const [down] = run(unknown, ['fail'], { ...p, deregisterAfterMs: 0 });
    expect(shouldDeregister(down!, { ...p, deregisterAfterMs: 0 }, 1e12)).toBe(false);
  });

  it('a new tracker keeps counting an outage recorded in the registry', () => {
    const tracker = trackerFor({ health: 'unhealthy', healthChangedAt: 1000 });
    expect(tracker.unhealthySince).toBe(1000);
    expect(shouldDeregister(applyResult(tracker, 'fail', p, 6000), p, 6000)).toBe(true);
  });
});
