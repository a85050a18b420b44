import { describe, expect, it } from 'vitest';
import { createWeightedBalancer, ejectUntil } from '../../../../src/core/index.ts';
import { createFakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { countIds, longestRun, makeEndpoints, tally } from './helpers.ts';

/** nginx's algorithm as written in ngx_http_upstream_get_peer: O(n) per pick, for reference. */
function nginxSequence(weights: number[], length: number): number[] {
  const current = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let step = 0; step < length; step++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (best === -1 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push(best);
  }
  return out;
}

function sequence(weights: number[], length: number, options: { maxScheduleLength?: number } = {}): string[] {
  const balancer = createWeightedBalancer({ clock: createFakeClock(), random: () => 0, ...options });
  balancer.setEndpoints(makeEndpoints(weights.length, weights));
  return Array.from({ length }, () => balancer.pick()!.id);
}

describe('weighted balancer (smooth weighted round-robin)', () => {
  it('interleaves like nginx: {5, 1, 1} gives a a b a c a a', () => {
    expect(sequence([5, 1, 1], 7).join(' ')).toBe('e0 e0 e1 e0 e2 e0 e0');
  });

  it('produces exactly nginx’s sequence for assorted weights', () => {
    for (const weights of [
      [100, 100, 100],
      [300, 200, 100],
      [7, 3, 1, 1],
      [1, 2, 3, 4, 5, 6, 7, 8],
      [250, 100],
    ]) {
      const expected = nginxSequence(weights, 200).map((i) => `e${i}`);
      expect(sequence(weights, 200)).toEqual(expected);
    }
  });

  it('sends traffic in proportion to weight, within 2% over 10 000 picks', () => {
    const weights = [500, 300, 150, 50];
    const balancer = createWeightedBalancer({ clock: createFakeClock(), random: seededRandom(11) });
    balancer.setEndpoints(makeEndpoints(4, weights));
    const counts = tally(Array.from({ length: 10_000 }, () => balancer.pick()));
    weights.forEach((weight, i) => {
      expect(Math.abs(counts.get(`e${i}`)! / 10_000 - weight / 1000)).toBeLessThan(0.02);
    });
  });

  it('is smooth: no long runs of one endpoint', () => {
    expect(longestRun(sequence([300, 200, 100], 600))).toBeLessThanOrEqual(2);
    expect(longestRun(sequence([100, 100, 100, 100], 400))).toBe(1);
    // 5 of every 7 picks must go to e0; nginx never puts more than 4 in a row (across the cycle's wrap).
    expect(longestRun(sequence([5, 1, 1], 70))).toBeLessThanOrEqual(4);
  });

  it('scales weights whose cycle would be too long, keeping proportions', () => {
    const weights = [9973, 7919, 101];
    const balancer = createWeightedBalancer({
      clock: createFakeClock(),
      random: () => 0,
      maxScheduleLength: 1000,
    });
    balancer.setEndpoints(makeEndpoints(3, weights));
    const counts = tally(Array.from({ length: 20_000 }, () => balancer.pick()));
    const total = weights.reduce((a, b) => a + b, 0);
    weights.forEach((weight, i) => {
      expect(Math.abs(counts.get(`e${i}`)! / 20_000 - weight / total)).toBeLessThan(0.005);
    });
  });

  it('gives every endpoint at least one turn however small its weight', () => {
    const weights = [10_000, 10_000, 1];
    const counts = countIds(sequence(weights, 40_000, { maxScheduleLength: 100 }));
    expect(counts.get('e2')).toBeGreaterThan(0);
  });

  it('spreads an ejected endpoint’s share over the others by weight', () => {
    const clock = createFakeClock();
    const balancer = createWeightedBalancer({ clock, random: () => 0 });
    const list = makeEndpoints(3, [200, 100, 100]);
    balancer.setEndpoints(list);
    ejectUntil(list[0], clock.now() + 1000);
    const counts = tally(Array.from({ length: 4000 }, () => balancer.pick()));
    expect(counts.get('e0')).toBeUndefined();
    expect(Math.abs(counts.get('e1')! - counts.get('e2')!)).toBeLessThan(200);
  });
});
