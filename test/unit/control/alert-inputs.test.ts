import { describe, expect, it } from 'vitest';
import { countOpenCircuits, createAlertInputs } from '../../../src/control/alert-inputs.ts';
import { createCircuitBreaker } from '../../../src/core/index.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

describe('alert inputs', () => {
  it('counts endpoints whose breaker is open or half-open, per service or mesh-wide', () => {
    const clock = createFakeClock();
    const breaker = () => createCircuitBreaker({ clock, consecutiveFailures: 1, recoveryTimeMs: 1_000 });
    const open = breaker();
    open.allowRequest();
    open.onFailure();
    const closed = breaker();
    const clusters = [
      { name: 'orders', endpoints: [{ breaker: open }, { breaker: closed }, { breaker: null }] },
      { name: 'billing', endpoints: [{ breaker: closed }] },
    ];
    expect(countOpenCircuits(clusters, 'orders')).toBe(1);
    expect(countOpenCircuits(clusters, 'billing')).toBe(0);
    expect(countOpenCircuits(clusters, 'unknown')).toBe(0);
    expect(countOpenCircuits(clusters, undefined)).toBe(1);
    clock.advance(1_000); // half-open: probing, not trusted yet
    expect(open.state).toBe('half-open');
    expect(countOpenCircuits(clusters, undefined)).toBe(1);
  });

  it('answers no data for the sources it was not given', () => {
    const inputs = createAlertInputs({ registry: { listInstances: () => [] } });
    expect(inputs.openCircuits(undefined)).toBeUndefined();
    expect(inputs.errorRate('orders', 60_000)).toBeUndefined();
    expect(inputs.p99(undefined, 60_000)).toBeUndefined();
    expect(inputs.unhealthyInstances('orders')).toBe(0);
  });

  it('passes windows to the statistics and asks the registry for unhealthy instances only', () => {
    const asked: unknown[] = [];
    const inputs = createAlertInputs({
      registry: {
        listInstances: (filter) => {
          asked.push(filter);
          return [];
        },
      },
      stats: {
        errorRate: (service, windowMs) => (service === 'orders' && windowMs === 300_000 ? 0.25 : undefined),
        p99: (service, windowMs) => (service === undefined ? windowMs / 1000 : undefined),
      },
      clusters: () => [],
    });
    expect(inputs.errorRate('orders', 300_000)).toBe(0.25);
    expect(inputs.p99(undefined, 60_000)).toBe(60);
    expect(inputs.openCircuits('orders')).toBe(0);
    inputs.unhealthyInstances('web');
    expect(asked).toEqual([{ service: 'web', health: ['unhealthy'] }]);
  });
});
