import { describe, expect, it } from 'vitest';
import { createRandomBalancer, ejectUntil } from '../../../../src/core/index.ts';
import { createFakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { makeEndpoints, tally } from './helpers.ts';

describe('random balancer', () => {
  it('is roughly uniform: each of 5 endpoints gets 20% ± 1.5% of 50 000 picks', () => {
    const balancer = createRandomBalancer({ clock: createFakeClock(), random: seededRandom(5) });
    balancer.setEndpoints(makeEndpoints(5));
    const counts = tally(Array.from({ length: 50_000 }, () => balancer.pick()));
    expect(counts.size).toBe(5);
    for (const count of counts.values()) expect(Math.abs(count / 50_000 - 0.2)).toBeLessThan(0.015);
  });

  it('follows the injected random source', () => {
    const values = [0, 0.99, 0.5];
    let i = 0;
    const balancer = createRandomBalancer({ clock: createFakeClock(), random: () => values[i++ % 3] });
    balancer.setEndpoints(makeEndpoints(3));
    expect([balancer.pick()!.id, balancer.pick()!.id, balancer.pick()!.id]).toEqual(['e0', 'e2', 'e1']);
  });

  it('stays roughly uniform over the rest when one endpoint is ejected', () => {
    const clock = createFakeClock();
    const balancer = createRandomBalancer({ clock, random: seededRandom(9) });
    const list = makeEndpoints(4);
    balancer.setEndpoints(list);
    ejectUntil(list[2], clock.now() + 1000);
    const counts = tally(Array.from({ length: 30_000 }, () => balancer.pick()));
    expect(counts.has('e2')).toBe(false);
    for (const count of counts.values()) expect(Math.abs(count / 30_000 - 1 / 3)).toBeLessThan(0.03);
  });
});
