import { describe, expect, it } from 'vitest';
import { hash, nextSlot } from '../../../src/registry/health/scheduler.ts';

describe('check slots', () => {
  it('puts each instance on its own fixed phase of the interval', () => {
    const interval = 5000;
    const id = 'orders-10.0.0.1-8080';
    const phase = hash(id) % interval;
    let now = 1_700_000_000_123;
    for (let turn = 0; turn < 20; turn++) {
      const next = nextSlot(id, interval, now);
      expect(next % interval).toBe(phase);
      expect(next - now).toBeGreaterThanOrEqual(interval / 2);
      expect(next - now).toBeLessThanOrEqual(interval * 1.5);
      now = next + (turn % 3); // a little late, as timers are
    }
  });

  it('spreads instances registered at the same moment evenly over the interval', () => {
    const interval = 5000;
    const now = 1_700_000_000_000;
    const buckets = new Array(10).fill(0);
    for (let index = 0; index < 5000; index++) {
      const next = nextSlot(`svc-${index}-127.0.0.1-${10_000 + index}`, interval, now);
      buckets[Math.floor((next % interval) / (interval / 10))]++;
    }
    // 500 per tenth of the interval if perfectly even; no tenth holds more than twice that.
    for (const count of buckets) expect(count).toBeGreaterThan(250);
    for (const count of buckets) expect(count).toBeLessThan(1000);
  });
});
