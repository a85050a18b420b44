import { describe, expect, it } from 'vitest';
import { createPreciseClock } from '../../../src/core/index.ts';

describe('createPreciseClock', () => {
  it('reads the wall-clock time, as Date.now() does but to a fraction of a millisecond', () => {
    const clock = createPreciseClock();
    for (let i = 0; i < 2_000; i++) {
      const before = Date.now();
      const now = clock.now();
      const after = Date.now();
      // Date.now() truncates: the true time is in [before, after + 1). The clock anchors where it saw
      // Date.now() tick over, the soonest of three ticks; on a machine busy enough to preempt all
      // three reads it lags by that much (CI once measured 0.06 ms), hence half a millisecond.
      expect(now).toBeGreaterThanOrEqual(before - 0.5);
      expect(now).toBeLessThan(after + 1.05);
    }
  });

  it('tells apart moments within the same millisecond, and never goes back', () => {
    const clock = createPreciseClock();
    const readings: number[] = [];
    const until = Date.now() + 3;
    while (Date.now() < until) readings.push(clock.now());
    for (let i = 1; i < readings.length; i++) expect(readings[i]).toBeGreaterThanOrEqual(readings[i - 1]!);
    // Three milliseconds of readings: a millisecond clock gives at most four values.
    expect(new Set(readings).size).toBeGreaterThan(10);
  });

  it('follows the wall clock after a sleep or a step, but not for its millisecond truncation', () => {
    let wall = 1_000_000;
    let monotonic = 50;
    const clock = createPreciseClock({ wall: () => wall, monotonic: () => monotonic });
    monotonic += 0.25;
    expect(clock.now()).toBe(1_000_000.25);
    // 10 s later by both clocks, Date.now() truncated below the reading: no step back.
    monotonic += 10_000;
    wall = 1_010_000;
    expect(clock.now()).toBe(1_010_000.25);
    monotonic += 0.5;
    expect(clock.now()).toBe(1_010_000.75);
    // The machine slept an hour: the monotonic clock stood still, the wall clock did not.
    monotonic += 10_000;
    wall = 1_010_000 + 3_600_000 + 10_000;
    expect(clock.now()).toBe(wall);
    monotonic += 1;
    expect(clock.now()).toBe(wall + 1);
  });

  it('runs timers', async () => {
    const clock = createPreciseClock();
    const fired = await new Promise<boolean>((resolve) => {
      clock.setTimeout(() => resolve(true), 1);
    });
    expect(fired).toBe(true);
  });
});
