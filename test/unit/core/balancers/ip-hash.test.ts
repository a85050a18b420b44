import { describe, expect, it } from 'vitest';
import {
  createEndpoint,
  createIpHashBalancer,
  type Endpoint,
  ejectUntil,
  hashString,
} from '../../../../src/core/index.ts';
import { createFakeClock, seededRandom } from '../../../helpers/fake-clock.ts';
import { countIds, makeEndpoints, tally } from './helpers.ts';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `192.168.${(i >> 8) & 255}.${i & 255}:${i}`);

function assign(endpoints: Endpoint[], keys = KEYS): Map<string, string> {
  const balancer = createIpHashBalancer({ clock: createFakeClock(), random: seededRandom(1) });
  balancer.setEndpoints(endpoints);
  return new Map(keys.map((key) => [key, balancer.pick(key)!.id]));
}

describe('ip-hash balancer (consistent hashing, ring with virtual nodes)', () => {
  it('maps the same key to the same endpoint, in every balancer instance', () => {
    const list = makeEndpoints(6);
    const a = assign(list);
    const b = assign(makeEndpoints(6).reverse());
    expect(b).toEqual(a);
    const balancer = createIpHashBalancer({ clock: createFakeClock() });
    balancer.setEndpoints(list);
    const first = balancer.pick('10.1.2.3');
    for (let i = 0; i < 100; i++) expect(balancer.pick('10.1.2.3')).toBe(first);
  });

  it('spreads keys roughly evenly', () => {
    const counts = countIds(assign(makeEndpoints(4)).values());
    for (const count of counts.values()) expect(Math.abs(count / KEYS.length - 0.25)).toBeLessThan(0.06);
  });

  it('adding a 5th endpoint to 4 moves about a fifth of the keys, all of them to the new one', () => {
    const four = makeEndpoints(4);
    const before = assign(four);
    const after = assign([...four, createEndpoint({ id: 'e4', address: '10.0.0.5', port: 8080 })]);
    let moved = 0;
    for (const key of KEYS) {
      if (before.get(key) === after.get(key)) continue;
      moved++;
      expect(after.get(key)).toBe('e4');
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.15);
    expect(moved / KEYS.length).toBeLessThan(0.25);
  });

  it('removing an endpoint moves only its own keys', () => {
    const five = makeEndpoints(5);
    const before = assign(five);
    const after = assign(five.filter((endpoint) => endpoint.id !== 'e2'));
    let moved = 0;
    for (const key of KEYS) {
      if (before.get(key) === 'e2') {
        moved++;
        expect(after.get(key)).not.toBe('e2');
      } else {
        expect(after.get(key)).toBe(before.get(key));
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('while an endpoint is ejected, only its keys move, and they come back afterwards', () => {
    const clock = createFakeClock();
    const balancer = createIpHashBalancer({ clock });
    const list = makeEndpoints(4);
    balancer.setEndpoints(list);
    const before = new Map(KEYS.map((key) => [key, balancer.pick(key)!.id]));
    ejectUntil(list[1], clock.now() + 30_000);
    for (const key of KEYS) {
      const id = balancer.pick(key)!.id;
      if (before.get(key) === 'e1') expect(id).not.toBe('e1');
      else expect(id).toBe(before.get(key));
    }
    clock.advance(30_000);
    for (const key of KEYS) expect(balancer.pick(key)!.id).toBe(before.get(key));
  });

  it('a retry excluding the owner goes to the next endpoint on the ring, consistently', () => {
    const balancer = createIpHashBalancer({ clock: createFakeClock() });
    const list = makeEndpoints(4);
    balancer.setEndpoints(list);
    const owner = balancer.pick('client-a')!;
    const second = balancer.pick('client-a', owner)!;
    expect(second).not.toBe(owner);
    for (let i = 0; i < 20; i++) expect(balancer.pick('client-a', owner)).toBe(second);
  });

  it('gives a heavier endpoint proportionally more keys', () => {
    const counts = countIds(assign(makeEndpoints(2, [300, 100])).values());
    expect(counts.get('e0')! / KEYS.length).toBeGreaterThan(0.65);
    expect(counts.get('e0')! / KEYS.length).toBeLessThan(0.85);
  });

  it('picks at random without a key', () => {
    const balancer = createIpHashBalancer({ clock: createFakeClock(), random: seededRandom(2) });
    balancer.setEndpoints(makeEndpoints(3));
    expect(tally(Array.from({ length: 300 }, () => balancer.pick())).size).toBe(3);
  });

  it('hashes strings stably (the ring must not change between versions or processes)', () => {
    expect(hashString('')).toBe(hashString(''));
    expect([hashString('10.0.0.1'), hashString('10.0.0.2')]).toEqual([
      hashString('10.0.0.1'),
      hashString('10.0.0.2'),
    ]);
    expect(hashString('10.0.0.1')).not.toBe(hashString('10.0.0.2'));
    expect(hashString('e0#0')).toBeGreaterThanOrEqual(0);
    expect(hashString('e0#0')).toBeLessThan(2 ** 32);
    expect(hashString('trellis')).toBe(4155580837);
  });
});
