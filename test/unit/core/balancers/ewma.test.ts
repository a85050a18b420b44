import { describe, expect, it } from 'vitest';
import { createEndpoint, createEwmaBalancer, type Endpoint } from '../../../../src/core/index.ts';
import { createFakeClock, type FakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { makeEndpoints } from './helpers.ts';

/**
 * Drives `picks` requests through the balancer, 10 per ms of fake time, each taking `latency(endpoint)`
 * ms and ending that many ms later (so slow endpoints also hold more requests in flight).
 */
function simulate(
  balancer: ReturnType<typeof createEwmaBalancer>,
  clock: FakeClock,
  picks: number,
  latency: (endpoint: Endpoint) => number,
): Map<Endpoint, number> {
  const counts = new Map<Endpoint, number>();
  const pending: { endsAt: number; endpoint: Endpoint; startedAt: number }[] = [];
  for (let i = 0; i < picks; i++) {
    if (i % 10 === 0) {
      clock.advance(1);
      const now = clock.now();
      for (let k = pending.length - 1; k >= 0; k--) {
        if (pending[k].endsAt > now) continue;
        const done = pending.splice(k, 1)[0];
        balancer.onRequestEnd(done.endpoint, now - done.startedAt, true);
      }
    }
    const endpoint = balancer.pick()!;
    balancer.onRequestStart(endpoint);
    counts.set(endpoint, (counts.get(endpoint) ?? 0) + 1);
    pending.push({ endpoint, startedAt: clock.now(), endsAt: clock.now() + latency(endpoint) });
  }
  return counts;
}

describe('ewma balancer (peak EWMA, power of two choices)', () => {
  it('shifts traffic away from a slow endpoint', () => {
    const clock = createFakeClock();
    const balancer = createEwmaBalancer({ clock, random: seededRandom(3) });
    const list = makeEndpoints(3);
    balancer.setEndpoints(list);
    const counts = simulate(balancer, clock, 60_000, (endpoint) => (endpoint === list[0] ? 100 : 5));
    const slowShare = counts.get(list[0])! / 60_000;
    expect(slowShare).toBeLessThan(0.1);
    expect(counts.get(list[1])! / 60_000).toBeGreaterThan(0.4);
    expect(list[0].ewmaMs).toBeGreaterThan(list[1].ewmaMs * 5);
  });

  it('moves traffic back when the slow endpoint recovers', () => {
    const clock = createFakeClock();
    const balancer = createEwmaBalancer({ clock, random: seededRandom(4) });
    const list = makeEndpoints(2);
    balancer.setEndpoints(list);
    simulate(balancer, clock, 20_000, (endpoint) => (endpoint === list[0] ? 200 : 5));
    // After the decay time the slow endpoint is probed again; it is fast now, so it earns traffic back.
    simulate(balancer, clock, 400_000, () => 5);
    const counts = simulate(balancer, clock, 100_000, () => 5);
    expect(counts.get(list[0])! / 100_000).toBeGreaterThan(0.3);
  });

  it('jumps to a latency peak at once and decays back over the decay time', () => {
    const clock = createFakeClock();
    const balancer = createEwmaBalancer({ clock, random: seededRandom(1), decayMs: 10_000 });
    const [endpoint] = makeEndpoints(1);
    balancer.setEndpoints([endpoint]);
    balancer.onRequestEnd(endpoint, 10, true);
    clock.advance(100);
    balancer.onRequestEnd(endpoint, 500, true);
    expect(endpoint.ewmaMs).toBe(500);
    clock.advance(10_000);
    balancer.onRequestEnd(endpoint, 10, true);
    // e^-1 of the old estimate plus (1 - e^-1) of the new sample.
    expect(endpoint.ewmaMs).toBeCloseTo(500 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 6);
  });

  it('starts a new endpoint at the mean estimate of the others (neutral), or the default without any', () => {
    const clock = createFakeClock();
    const balancer = createEwmaBalancer({ clock, random: seededRandom(1), defaultRttMs: 25 });
    const list = makeEndpoints(2);
    balancer.setEndpoints(list);
    expect(list.map((endpoint) => endpoint.ewmaMs)).toEqual([25, 25]);
    balancer.onRequestEnd(list[0], 100, true);
    balancer.onRequestEnd(list[1], 40, true);
    const fresh = createEndpoint({ id: 'fresh', address: '10.0.0.9', port: 8080 });
    balancer.setEndpoints([...list, fresh]);
    expect(fresh.ewmaMs).toBeCloseTo(70, 6);
  });

  it('weighs in-flight requests: an endpoint with equal latency but a queue loses', () => {
    const clock = createFakeClock();
    const balancer = createEwmaBalancer({ clock, random: seededRandom(12) });
    const list = makeEndpoints(2);
    balancer.setEndpoints(list);
    for (let i = 0; i < 5; i++) balancer.onRequestStart(list[0]);
    for (let i = 0; i < 50; i++) expect(balancer.pick()).toBe(list[1]);
  });
});
