import { describe, expect, it } from 'vitest';
import { createMeshStats, LATENCY_BOUNDS_MS, LatencySeries } from '../../../src/telemetry/index.ts';

const T0 = 1_700_000_000_000;

function clock(start = T0) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

/** Latencies 1..n ms, evenly spread. */
function spread(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

describe('mesh statistics', () => {
  it('gives totals, failures, rate, average and percentiles per service and mesh-wide', () => {
    const time = clock();
    const stats = createMeshStats({ now: time.now });
    // 60 s of traffic: orders 10 req/s with latencies 1..600 ms, 5% failing; payments 1 req/s.
    const latencies = spread(600);
    for (let i = 0; i < 600; i++) {
      stats.record('orders', latencies[i]!, i % 20 === 0, time.now());
      if (i % 10 === 0) stats.record('payments', 50, false, time.now());
      time.advance(100);
    }
    const orders = stats.serviceFigures('orders', 60_000);
    expect(orders.requests).toBe(600);
    expect(orders.failed).toBe(30);
    expect(orders.errorRate).toBeCloseTo(0.05, 6);
    expect(orders.rps).toBeGreaterThan(9);
    expect(orders.rps).toBeLessThan(11);
    expect(orders.avgMs).toBeCloseTo(300.5, 3);
    // Bins are 2^(1/3) apart: an interpolated percentile is within 26% (much closer in practice).
    expect(orders.p50Ms!).toBeGreaterThan(300 / 1.26);
    expect(orders.p50Ms!).toBeLessThan(300 * 1.26);
    expect(orders.p95Ms!).toBeGreaterThan(570 / 1.26);
    expect(orders.p95Ms!).toBeLessThanOrEqual(600);
    expect(orders.p99Ms!).toBeLessThanOrEqual(600);
    expect(orders.p99Ms!).toBeGreaterThanOrEqual(orders.p95Ms!);
    expect(orders.maxMs).toBe(600);

    const mesh = stats.meshFigures(60_000);
    expect(mesh.requests).toBe(660);
    expect(mesh.failed).toBe(30);
    expect(stats.errorRate(undefined, 60_000)).toBeCloseTo(30 / 660, 6);
    expect(stats.errorRate('payments', 60_000)).toBe(0);
    expect(stats.p99('payments', 60_000)).toBe(50);
    expect(stats.errorRate('nobody', 60_000)).toBeUndefined();
    expect(stats.p99('nobody', 60_000)).toBeUndefined();
  });

  it('slides: old requests leave short windows first, and everything leaves after an hour', () => {
    const time = clock();
    const stats = createMeshStats({ now: time.now });
    for (let i = 0; i < 100; i++) stats.record('orders', 10, true);
    time.advance(2 * 60_000);
    for (let i = 0; i < 50; i++) stats.record('orders', 20, false);

    expect(stats.serviceFigures('orders', 60_000)).toMatchObject({ requests: 50, failed: 0 });
    expect(stats.serviceFigures('orders', 5 * 60_000)).toMatchObject({ requests: 150, failed: 100 });
    expect(stats.serviceFigures('orders', 60 * 60_000)).toMatchObject({ requests: 150, failed: 100 });

    time.advance(4 * 60_000);
    expect(stats.serviceFigures('orders', 5 * 60_000).requests).toBe(50);
    expect(stats.serviceFigures('orders', 30 * 60_000).requests).toBe(150);

    // The last requests are 59 minutes old: still in the hour, and the service still listed.
    time.advance(55 * 60_000);
    expect(stats.serviceFigures('orders', 60 * 60_000).requests).toBe(50);
    expect(stats.activeServices()).toEqual(['orders']);
    time.advance(3 * 60_000);
    expect(stats.serviceFigures('orders', 60 * 60_000).requests).toBe(0);
    expect(stats.activeServices()).toEqual([]);
  });

  it('counts a request at the time it ended, ignores ones older than an hour, and clamps the future', () => {
    const time = clock();
    const stats = createMeshStats({ now: time.now });
    stats.record('orders', 5, false, T0 - 3 * 60_000);
    stats.record('orders', 5, false, T0 - 2 * 60 * 60_000);
    stats.record('orders', 5, false, T0 + 60_000);
    expect(stats.serviceFigures('orders', 60_000).requests).toBe(1);
    expect(stats.serviceFigures('orders', 5 * 60_000).requests).toBe(2);
  });

  it('weighs sampled requests by their adjusted count', () => {
    const stats = createMeshStats({ now: clock().now });
    stats.record('orders', 5, true, undefined, 10);
    stats.record('orders', 5, false, undefined, 10);
    expect(stats.serviceFigures('orders', 60_000)).toMatchObject({
      requests: 20,
      failed: 10,
      errorRate: 0.5,
    });
  });

  it('lists registry services without traffic with zero figures', () => {
    const stats = createMeshStats({ now: clock().now });
    stats.record('orders', 5, false);
    const snapshot = stats.snapshot(60_000, ['payments', 'orders']);
    expect(Object.keys(snapshot.services)).toEqual(['orders', 'payments']);
    expect(snapshot.services.payments).toMatchObject({ requests: 0, rps: 0, p99Ms: null, avgMs: null });
    expect(snapshot.mesh.requests).toBe(1);
  });

  it('keeps at most maxServices services, dropping the least recently active', () => {
    const time = clock();
    const stats = createMeshStats({ now: time.now, maxServices: 3 });
    for (const name of ['a', 'b', 'c']) {
      stats.record(name, 1, false);
      time.advance(1000);
    }
    stats.record('a', 1, false);
    stats.record('d', 1, false);
    expect(stats.activeServices().sort()).toEqual(['a', 'c', 'd']);
  });
});

describe('latency series', () => {
  it('places latencies in log-spaced bins and reads percentiles within the observed range', () => {
    const series = new LatencySeries();
    for (const ms of [0.05, 0.1, 1, 10, 100, 1000, 10_000, 300_000]) series.record(T0, ms, false);
    const figures = series.figures(T0, 60_000);
    expect(figures.requests).toBe(8);
    expect(figures.maxMs).toBe(300_000);
    expect(figures.p99Ms).toBeLessThanOrEqual(300_000);
    expect(figures.p50Ms!).toBeGreaterThanOrEqual(1);
    expect(figures.p50Ms!).toBeLessThanOrEqual(10 * 1.26);
    expect(LATENCY_BOUNDS_MS[0]).toBe(0.1);
    expect(LATENCY_BOUNDS_MS.at(-1)!).toBeGreaterThan(200_000);
  });

  it('answers a constant latency exactly', () => {
    const series = new LatencySeries();
    for (let i = 0; i < 1000; i++) series.record(T0 + i, 42, false);
    expect(series.figures(T0 + 1000, 60_000)).toMatchObject({ p50Ms: 42, p95Ms: 42, p99Ms: 42, avgMs: 42 });
  });
});
