import { describe, expect, it } from 'vitest';
import { preciseClock } from '../../../src/core/index.ts';

describe('preciseClock', () => {
  it('reads the wall-clock time in milliseconds', () => {
    const before = Date.now();
    const now = preciseClock.now();
    const after = Date.now();
    // Date.now() truncates to the millisecond; the two differ only by steps of the system clock.
    expect(now).toBeGreaterThanOrEqual(before - 50);
    expect(now).toBeLessThanOrEqual(after + 50);
  });

  it('tells apart moments within the same millisecond, and never goes back', () => {
    const readings: number[] = [];
    const until = Date.now() + 3;
    while (Date.now() < until) readings.push(preciseClock.now());
    for (let i = 1; i < readings.length; i++) expect(readings[i]).toBeGreaterThanOrEqual(readings[i - 1]!);
    const distinct = new Set(readings).size;
    // Three milliseconds of readings: a millisecond clock gives at most four values.
    expect(distinct).toBeGreaterThan(10);
  });

  it('runs timers', async () => {
    const fired = await new Promise<boolean>((resolve) => {
      const handle = preciseClock.setTimeout(() => resolve(true), 1);
      expect(handle).toBeDefined();
    });
    expect(fired).toBe(true);
  });
});
