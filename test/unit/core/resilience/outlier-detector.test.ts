import { describe, expect, it } from 'vitest';
import {
  createBalancer,
  createEndpoint,
  createOutlierDetector,
  type Endpoint,
  type OutlierDetectorOptions,
} from '../../../../src/core/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

function setup(count: number, options: Partial<OutlierDetectorOptions> = {}) {
  const clock = createFakeClock();
  const events: string[] = [];
  const detector = createOutlierDetector({
    clock,
    onEject: (endpoint, ms) => events.push(`eject ${endpoint.id} ${ms}`),
    onReturn: (endpoint) => events.push(`return ${endpoint.id}`),
    ...options,
  });
  const list = Array.from({ length: count }, (_, i) =>
    createEndpoint({ id: `e${i}`, address: '10.0.0.1', port: 8000 + i }),
  );
  detector.setEndpoints(list);
  return { clock, detector, list, events };
}

function failures(detector: ReturnType<typeof createOutlierDetector>, endpoint: Endpoint, n: number): void {
  for (let i = 0; i < n; i++) detector.onFailure(endpoint);
}

describe('outlier detector', () => {
  it('ejects after 5 consecutive errors for the base ejection time (30 s), marking the endpoint', () => {
    const { clock, detector, list, events } = setup(4);
    failures(detector, list[0], 4);
    expect(detector.isEjected(list[0])).toBe(false);
    detector.onFailure(list[0]);
    expect(detector.isEjected(list[0])).toBe(true);
    expect(list[0].ejectedUntil).toBe(clock.now() + 30_000);
    expect(events).toEqual(['eject e0 30000']);
  });

  it('a success resets the run of errors', () => {
    const { detector, list } = setup(4);
    failures(detector, list[0], 4);
    detector.onSuccess(list[0]);
    failures(detector, list[0], 4);
    expect(detector.isEjected(list[0])).toBe(false);
  });

  it('returns the endpoint when its time is up, with no timer', () => {
    const { clock, detector, list, events } = setup(4);
    failures(detector, list[0], 5);
    clock.advance(29_999);
    expect(detector.isEjected(list[0])).toBe(true);
    clock.advance(1);
    expect(clock.pendingTimers).toBe(0);
    expect(detector.isEjected(list[0])).toBe(false);
    expect(detector.ejectedCount()).toBe(0);
    expect(events).toEqual(['eject e0 30000', 'return e0']);
  });

  it('ejects for longer each time: base × times ejected, capped at the max ejection time', () => {
    const { clock, detector, list, events } = setup(2, {
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 100_000,
    });
    for (const expected of [30_000, 60_000, 90_000, 100_000, 100_000]) {
      failures(detector, list[0], 5);
      expect(list[0].ejectedUntil - clock.now()).toBe(expected);
      clock.advance(expected);
    }
    expect(events.filter((event) => event.startsWith('eject'))).toEqual([
      'eject e0 30000',
      'eject e0 60000',
      'eject e0 90000',
      'eject e0 100000',
      'eject e0 100000',
    ]);
  });

  it('the multiplier decays by one for each base ejection time spent back in', () => {
    const { clock, detector, list } = setup(2);
    failures(detector, list[0], 5);
    clock.advance(30_000);
    failures(detector, list[0], 5);
    clock.advance(60_000);
    // Third ejection would be 90 s; two base periods of good behaviour bring it back to 30 s.
    clock.advance(60_000);
    failures(detector, list[0], 5);
    expect(list[0].ejectedUntil - clock.now()).toBe(30_000);
  });

  it('ignores errors from requests that were in flight when the endpoint was ejected', () => {
    const { clock, detector, list } = setup(2);
    failures(detector, list[0], 5);
    failures(detector, list[0], 20);
    clock.advance(30_000);
    expect(detector.isEjected(list[0])).toBe(false);
    failures(detector, list[0], 4);
    expect(detector.isEjected(list[0])).toBe(false);
  });

  it('never ejects more than maxEjectionPercent of the cluster (50%)', () => {
    const { clock, detector, list } = setup(5);
    for (const endpoint of list) failures(detector, endpoint, 5);
    expect(detector.ejectedCount()).toBe(2);
    expect(list.filter((endpoint) => endpoint.ejectedUntil > clock.now())).toHaveLength(2);
  });

  it('ejects one more once room is made, on the next error', () => {
    const { clock, detector, list } = setup(4);
    failures(detector, list[0], 5);
    failures(detector, list[1], 5);
    failures(detector, list[2], 5);
    expect(detector.isEjected(list[2])).toBe(false);
    clock.advance(30_000);
    detector.onFailure(list[2]);
    expect(detector.isEjected(list[2])).toBe(true);
  });

  it('always allows one ejection, even in a cluster of one; 0% disables ejection', () => {
    const one = setup(1);
    failures(one.detector, one.list[0], 5);
    expect(one.detector.isEjected(one.list[0])).toBe(true);
    const off = setup(3, { maxEjectionPercent: 0 });
    failures(off.detector, off.list[0], 50);
    expect(off.detector.ejectedCount()).toBe(0);
  });

  it('keeps state across setEndpoints and forgets removed endpoints', () => {
    const { detector, list } = setup(5);
    failures(detector, list[0], 5);
    failures(detector, list[1], 3);
    detector.setEndpoints([list[0], list[1], list[3], list[4]]);
    expect(detector.isEjected(list[0])).toBe(true);
    failures(detector, list[1], 2);
    expect(detector.isEjected(list[1])).toBe(true);
    failures(detector, list[2], 10);
    expect(detector.isEjected(list[2])).toBe(false);
  });

  it('works with a balancer: the ejected endpoint is skipped until it returns', () => {
    const { clock, detector, list } = setup(3);
    const balancer = createBalancer('round-robin', { clock });
    balancer.setEndpoints(list);
    failures(detector, list[1], 5);
    const during = new Set(Array.from({ length: 30 }, () => balancer.pick()!.id));
    expect(during).toEqual(new Set(['e0', 'e2']));
    clock.advance(30_000);
    const after = new Set(Array.from({ length: 30 }, () => balancer.pick()!.id));
    expect(after).toEqual(new Set(['e0', 'e1', 'e2']));
  });
});
