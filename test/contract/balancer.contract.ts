import { describe, expect, it } from 'vitest';
import {
  type Balancer,
  type BalancerKind,
  createEndpoint,
  type Endpoint,
  type EndpointSpec,
  ejectUntil,
  type HealthState,
} from '../../src/core/index.ts';
import { createFakeClock, type FakeClock } from '../helpers/fake-clock.ts';

export interface BalancerFixture {
  balancer: Balancer;
  clock: FakeClock;
}

/** Keys for ip-hash (and harmlessly ignored by the others), built once so picks allocate nothing. */
const KEYS = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

function endpoints(...health: HealthState[]): Endpoint[] {
  return health.map((state, i) =>
    createEndpoint({ id: `e${i}`, address: '127.0.0.1', port: 9000 + i, health: state }),
  );
}

function ids(list: readonly (Endpoint | undefined)[]): Set<string | undefined> {
  return new Set(list.map((endpoint) => endpoint?.id));
}

/** `count` picks over varied keys, returning what was picked. */
function picks(balancer: Balancer, count: number, exclude?: Endpoint): (Endpoint | undefined)[] {
  const out: (Endpoint | undefined)[] = [];
  for (let i = 0; i < count; i++) out.push(balancer.pick(KEYS[i % KEYS.length], exclude));
  return out;
}

/** The behaviour every balancer shares, whatever its strategy. */
export function balancerContract(kind: BalancerKind, make: (clock: FakeClock) => Balancer): void {
  describe(`balancer contract: ${kind}`, () => {
    const setup = (...health: HealthState[]): BalancerFixture & { list: Endpoint[] } => {
      const clock = createFakeClock();
      const balancer = make(clock);
      const list = endpoints(...health);
      balancer.setEndpoints(list);
      return { balancer, clock, list };
    };

    it('reports its kind', () => {
      expect(make(createFakeClock()).kind).toBe(kind);
    });

    it('returns undefined before any endpoints and for an empty set', () => {
      const balancer = make(createFakeClock());
      expect(balancer.pick('k')).toBeUndefined();
      balancer.setEndpoints([]);
      expect(balancer.pick('k')).toBeUndefined();
      expect(balancer.pick()).toBeUndefined();
    });

    it('never picks unhealthy or unknown endpoints, nor degraded ones while a healthy one is left', () => {
      const { balancer, list } = setup('unhealthy', 'healthy', 'unknown', 'degraded', 'healthy', 'unhealthy');
      expect(balancer.eligible.map((e) => e.id)).toEqual(['e1', 'e4']);
      expect(ids(picks(balancer, 2000))).toEqual(new Set(['e1', 'e4']));
      expect(ids([balancer.pick(), balancer.pick(), balancer.pick()]).has(list[0].id)).toBe(false);
    });

    it('falls back to degraded endpoints when no healthy one is left', () => {
      const { balancer } = setup('unhealthy', 'degraded', 'unknown', 'degraded');
      expect(ids(picks(balancer, 2000))).toEqual(new Set(['e1', 'e3']));
    });

    it('returns undefined when nothing is healthy or degraded', () => {
      const { balancer } = setup('unhealthy', 'unknown', 'unhealthy');
      expect(balancer.pick('k')).toBeUndefined();
      expect(balancer.pick()).toBeUndefined();
      expect(balancer.eligible).toEqual([]);
    });

    it('never picks an endpoint with weight 0 (draining)', () => {
      const { balancer, list } = setup('healthy', 'healthy', 'healthy');
      list[1].weight = 0;
      balancer.setEndpoints(list);
      expect(ids(picks(balancer, 2000))).toEqual(new Set(['e0', 'e2']));
    });

    it('applies in-place health changes at the next setEndpoints', () => {
      const { balancer, list } = setup('healthy', 'healthy', 'healthy');
      list[0].health = 'unhealthy';
      list[2].health = 'degraded';
      balancer.setEndpoints(list);
      expect(ids(picks(balancer, 1000))).toEqual(new Set(['e1']));
    });

    it('replaces the set: removed endpoints are never picked', () => {
      const { balancer, list } = setup('healthy', 'healthy', 'healthy', 'healthy');
      balancer.setEndpoints([list[1], list[3]]);
      expect(ids(picks(balancer, 2000))).toEqual(new Set(['e1', 'e3']));
    });

    it('reaches every eligible endpoint', () => {
      const { balancer } = setup('healthy', 'healthy', 'healthy', 'healthy', 'healthy');
      expect(ids(picks(balancer, 5000)).size).toBe(5);
    });

    it('honours exclude when another endpoint exists', () => {
      const { balancer, list } = setup('healthy', 'healthy', 'healthy');
      for (const excluded of list) {
        const picked = picks(balancer, 1000, excluded);
        expect(picked.every((endpoint) => endpoint !== undefined && endpoint !== excluded)).toBe(true);
      }
      const single = setup('healthy', 'unhealthy');
      expect(single.balancer.pick('k', single.list[0])).toBe(single.list[0]);
      expect(single.balancer.pick(undefined, single.list[0])).toBe(single.list[0]);
    });

    it('skips ejected endpoints without a rebuild, and takes them back when the time is up', () => {
      const { balancer, clock, list } = setup('healthy', 'healthy', 'healthy');
      ejectUntil(list[1], clock.now() + 30_000);
      expect(ids(picks(balancer, 2000))).toEqual(new Set(['e0', 'e2']));
      clock.advance(29_999);
      expect(ids(picks(balancer, 1000)).has('e1')).toBe(false);
      clock.advance(1);
      expect(ids(picks(balancer, 2000)).has('e1')).toBe(true);
      expect(list[1].ejectedUntil).toBe(0);
    });

    it('an ejected endpoint outranks exclude: the excluded endpoint is picked if it is the only one left', () => {
      const { balancer, clock, list } = setup('healthy', 'healthy', 'healthy');
      ejectUntil(list[0], clock.now() + 1000);
      ejectUntil(list[2], clock.now() + 1000);
      expect(ids(picks(balancer, 1000, list[1]))).toEqual(new Set(['e1']));
    });

    it('panics when every endpoint is ejected: picks among them anyway, still honouring exclude', () => {
      const { balancer, clock, list } = setup('healthy', 'healthy', 'healthy', 'unhealthy');
      for (const endpoint of list) ejectUntil(endpoint, clock.now() + 1000);
      const picked = picks(balancer, 2000);
      expect(picked.every((endpoint) => endpoint !== undefined && endpoint.id !== 'e3')).toBe(true);
      const excluding = picks(balancer, 2000, list[0]);
      expect(ids(excluding).has('e0')).toBe(false);
      expect(excluding.every((endpoint) => endpoint !== undefined && endpoint.id !== 'e3')).toBe(true);
    });

    it('keeps in-flight counts on the endpoint and never lets them go negative', () => {
      const { balancer, list } = setup('healthy', 'healthy');
      balancer.onRequestStart(list[0]);
      balancer.onRequestStart(list[0]);
      expect(list[0].inFlight).toBe(2);
      balancer.onRequestEnd(list[0], 5, true);
      balancer.onRequestEnd(list[0], 5, false);
      balancer.onRequestEnd(list[0], 5, true);
      expect(list[0].inFlight).toBe(0);
    });

    it('keeps per-endpoint state across setEndpoints (same objects)', () => {
      const { balancer, list } = setup('healthy', 'healthy');
      balancer.onRequestStart(list[0]);
      balancer.setEndpoints([
        ...list,
        createEndpoint({ id: 'new', address: '127.0.0.1', port: 1 } satisfies EndpointSpec),
      ]);
      expect(list[0].inFlight).toBe(1);
      expect(balancer.eligible).toHaveLength(3);
    });

    it('survives 100 000 picks with overlapping requests, spreading equal endpoints evenly', () => {
      const { balancer, clock, list } = setup('healthy', 'healthy', 'healthy', 'healthy', 'healthy');
      const counts = new Map<Endpoint, number>(list.map((endpoint) => [endpoint, 0]));
      const keys = Array.from({ length: 10_000 }, (_, i) => `client-${i}`);
      // Eight requests in flight at any time, each ending eight picks after it started.
      const inFlight: Endpoint[] = [];
      for (let i = 0; i < 100_000; i++) {
        const endpoint = balancer.pick(keys[i % keys.length])!;
        balancer.onRequestStart(endpoint);
        counts.set(endpoint, counts.get(endpoint)! + 1);
        inFlight.push(endpoint);
        if (i % 10 === 0) clock.advance(1);
        if (inFlight.length === 8) balancer.onRequestEnd(inFlight.shift()!, 10, true);
      }
      for (const count of counts.values()) {
        expect(count / 100_000).toBeGreaterThan(0.15);
        expect(count / 100_000).toBeLessThan(0.25);
      }
    });
  });
}
