import { describe, expect, it } from 'vitest';
import { createRoundRobinBalancer, ejectUntil } from '../../../../src/core/index.ts';
import { createFakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { makeEndpoints, tally } from './helpers.ts';

describe('round-robin balancer', () => {
  it('cycles through the endpoints in a fixed order, each once per cycle', () => {
    const balancer = createRoundRobinBalancer({ clock: createFakeClock(), random: seededRandom(3) });
    const list = makeEndpoints(4);
    balancer.setEndpoints(list);
    const ids = Array.from({ length: 12 }, () => balancer.pick()!.id);
    const cycle = ids.slice(0, 4);
    expect(new Set(cycle).size).toBe(4);
    expect(ids).toEqual([...cycle, ...cycle, ...cycle]);
    // The order is the list's, rotated to a random start.
    const start = Number(cycle[0].slice(1));
    expect(cycle).toEqual([0, 1, 2, 3].map((k) => `e${(start + k) % 4}`));
  });

  it('starts at position 0 when the random source says so', () => {
    const balancer = createRoundRobinBalancer({ clock: createFakeClock(), random: () => 0 });
    balancer.setEndpoints(makeEndpoints(3));
    expect(Array.from({ length: 4 }, () => balancer.pick()!.id)).toEqual(['e0', 'e1', 'e2', 'e0']);
  });

  it('shares an ejected endpoint’s turns evenly among the others', () => {
    const clock = createFakeClock();
    const balancer = createRoundRobinBalancer({ clock, random: () => 0 });
    const list = makeEndpoints(3);
    balancer.setEndpoints(list);
    ejectUntil(list[1], clock.now() + 1000);
    const counts = tally(Array.from({ length: 1000 }, () => balancer.pick()));
    expect(counts).toEqual(
      new Map([
        ['e0', 500],
        ['e2', 500],
      ]),
    );
  });

  it('on a retry moves past the excluded endpoint to the next one', () => {
    const balancer = createRoundRobinBalancer({ clock: createFakeClock(), random: () => 0 });
    const list = makeEndpoints(3);
    balancer.setEndpoints(list);
    const first = balancer.pick()!;
    expect(first.id).toBe('e0');
    expect(balancer.pick(undefined, first)!.id).toBe('e1');
    expect(balancer.pick(undefined, list[2])!.id).toBe('e0');
  });
});
