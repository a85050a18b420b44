import { describe, expect, it } from 'vitest';
import { createRetryBudget } from '../../../../src/core/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

function drain(budget: ReturnType<typeof createRetryBudget>): number {
  let granted = 0;
  while (budget.tryAcquireRetry()) granted++;
  return granted;
}

describe('retry budget', () => {
  it('allows minPerSecond × window retries with no traffic (10/s over 10 s = 100), then refuses', () => {
    const budget = createRetryBudget({ clock: createFakeClock() });
    expect(budget.available()).toBe(100);
    expect(drain(budget)).toBe(100);
    expect(budget.tryAcquireRetry()).toBe(false);
    expect(budget.available()).toBe(0);
  });

  it('adds ratio (20%) of the requests in the window', () => {
    const budget = createRetryBudget({ clock: createFakeClock(), minPerSecond: 0 });
    for (let i = 0; i < 1000; i++) budget.recordRequest();
    expect(drain(budget)).toBe(200);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(drain(budget)).toBe(2);
  });

  it('refills as spent retries leave the window', () => {
    const clock = createFakeClock();
    const budget = createRetryBudget({ clock, minPerSecond: 10, windowMs: 10_000 });
    expect(drain(budget)).toBe(100);
    clock.advance(5_000);
    expect(budget.tryAcquireRetry()).toBe(false);
    clock.advance(5_000);
    expect(budget.available()).toBe(100);
  });

  it('forgets requests older than the window', () => {
    const clock = createFakeClock();
    const budget = createRetryBudget({ clock, minPerSecond: 0, ratio: 0.5 });
    for (let i = 0; i < 100; i++) budget.recordRequest();
    expect(budget.available()).toBe(50);
    clock.advance(10_000);
    expect(budget.available()).toBe(0);
  });

  it('keeps a failing upstream to (1 + ratio) × the load plus the reserve', () => {
    const clock = createFakeClock();
    const budget = createRetryBudget({ clock });
    let requests = 0;
    let retries = 0;
    for (let second = 0; second < 60; second++) {
      for (let i = 0; i < 1000; i++) {
        budget.recordRequest();
        requests++;
        // Every request fails and asks for up to 3 retries.
        for (let attempt = 0; attempt < 3; attempt++) if (budget.tryAcquireRetry()) retries++;
      }
      clock.advance(1000);
    }
    expect(retries / requests).toBeLessThan(0.2 + 10 / 1000 + 0.01);
    expect(retries / requests).toBeGreaterThan(0.15);
  });
});
