import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay } from '../../../../src/core/index.ts';
import { seededRandom } from '../../../helpers/fake-clock.ts';

describe('exponential back-off with full jitter', () => {
  it('doubles the range per attempt up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffCeiling(25, 250, attempt))).toEqual([
      25, 50, 100, 200, 250, 250,
    ]);
    expect(backoffCeiling(25, 250, 10_000)).toBe(250);
    expect(backoffCeiling(25, 250, 0)).toBe(25);
  });

  it('draws uniformly within [0, ceiling)', () => {
    const random = seededRandom(3);
    for (let attempt = 1; attempt <= 8; attempt++) {
      const ceiling = backoffCeiling(25, 1000, attempt);
      const delays = Array.from({ length: 2000 }, () => backoffDelay(25, 1000, attempt, random));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThan(ceiling);
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      expect(mean / ceiling).toBeGreaterThan(0.4);
      expect(mean / ceiling).toBeLessThan(0.6);
    }
  });

  it('follows the random source at its bounds', () => {
    expect(backoffDelay(100, 10_000, 3, () => 0)).toBe(0);
    expect(backoffDelay(100, 10_000, 3, () => 0.999_999)).toBe(399);
    expect(backoffDelay(100, 250, 3, () => 0.5)).toBe(125);
  });
});
