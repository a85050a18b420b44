import { describe, expect, it } from 'vitest';
import { createLeastConnectionsBalancer, type Endpoint } from '../../../../src/core/index.ts';
import { createFakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { makeEndpoints, tally } from './helpers.ts';

describe('least-connections balancer (power of two choices)', () => {
  it('prefers idle endpoints over a busy one', () => {
    const balancer = createLeastConnectionsBalancer({ clock: createFakeClock(), random: seededRandom(2) });
    const list = makeEndpoints(4);
    balancer.setEndpoints(list);
    for (let i = 0; i < 10; i++) balancer.onRequestStart(list[0]);
    const counts = tally(Array.from({ length: 3000 }, () => balancer.pick()));
    expect(counts.has('e0')).toBe(false);
    for (const id of ['e1', 'e2', 'e3']) expect(counts.get(id)).toBeGreaterThan(800);
  });

  it('with two endpoints always takes the one with fewer requests in flight', () => {
    const balancer = createLeastConnectionsBalancer({ clock: createFakeClock(), random: seededRandom(4) });
    const list = makeEndpoints(2);
    balancer.setEndpoints(list);
    balancer.onRequestStart(list[1]);
    for (let i = 0; i < 100; i++) expect(balancer.pick()).toBe(list[0]);
  });

  it('keeps long-running requests balanced: in-flight counts stay close', () => {
    const balancer = createLeastConnectionsBalancer({ clock: createFakeClock(), random: seededRandom(8) });
    const list = makeEndpoints(5);
    balancer.setEndpoints(list);
    for (let i = 0; i < 500; i++) balancer.onRequestStart(balancer.pick()!);
    const loads = list.map((endpoint) => endpoint.inFlight);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(3);
  });

  it('counts a heavier endpoint as having more room', () => {
    const balancer = createLeastConnectionsBalancer({ clock: createFakeClock(), random: seededRandom(6) });
    const list = makeEndpoints(2, [300, 100]);
    balancer.setEndpoints(list);
    const open: Endpoint[] = [];
    for (let i = 0; i < 400; i++) {
      const endpoint = balancer.pick()!;
      balancer.onRequestStart(endpoint);
      open.push(endpoint);
    }
    expect(list[0].inFlight / list[1].inFlight).toBeCloseTo(3, 0);
  });
});
