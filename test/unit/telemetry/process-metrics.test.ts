import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  aggregateFamilies,
  createProcessMetrics,
  type Family,
  type ProcessMetrics,
  renderFamilies,
} from '../../../src/telemetry/index.ts';
import { parseExposition } from '../../helpers/exposition.ts';

/** prom-client's gauges named `_total`, which promtool rejects: left out on purpose. */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const byName = (families: Family[]) => new Map(families.map((family) => [family.name, family]));

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Resolves once `check` passes (GC entries reach observers asynchronously), bounded generously. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('process metrics', () => {
  const opened: ProcessMetrics[] = [];
  const open = () => {
    const metrics = createProcessMetrics();
    opened.push(metrics);
    return metrics;
  };
  afterEach(() => {
    for (const metrics of opened.splice(0)) metrics.close();
  });

  it("has prom-client's names, help texts, types and cluster aggregations", async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const theirs = (await registry.getMetricsAsJSON()).filter((metric) => !MISNAMED.includes(metric.name));
    const ours = await open().families();
    expect(ours.map((family) => family.name)).toEqual(theirs.map((metric) => metric.name));
    for (const metric of theirs) {
      const family = byName(ours).get(metric.name)!;
      expect([family.help, family.type], metric.name).toEqual([metric.help, metric.type]);
      // prom-client omits the start time from a cluster's aggregate; the earliest is kept here.
      const aggregator = metric.name === 'process_start_time_seconds' ? 'min' : metric.aggregator;
      expect(family.aggregation, metric.name).toBe(aggregator);
    }
    const gc = byName(ours).get('nodejs_gc_duration_seconds');
    expect(gc?.type === 'histogram' && gc.bounds).toEqual([0.001, 0.01, 0.1, 1, 2, 5]);
  });

  it('names exactly the families it reports, in order', async () => {
    const metrics = open();
    expect((await metrics.families()).map((family) => family.name)).toEqual(metrics.names);
  });

  it('reports CPU and memory figures of this process', async () => {
    const metrics = open();
    const first = parseExposition(renderFamilies(await metrics.families()));
    const busyUntil = performance.now() + 30;
    while (performance.now() < busyUntil) {
      // Spend CPU so the counters move.
    }
    const second = parseExposition(renderFamilies(await metrics.families()));
    const cpu = (text: typeof first, name: string) => text.sum(name);
    expect(cpu(second, 'process_cpu_seconds_total')).toBeGreaterThan(cpu(first, 'process_cpu_seconds_total'));
    expect(cpu(second, 'process_cpu_seconds_total')).toBeCloseTo(
      cpu(second, 'process_cpu_user_seconds_total') + cpu(second, 'process_cpu_system_seconds_total'),
      6,
    );
    // Counted from the process's start, like the kernel's figures.
    expect(cpu(first, 'process_cpu_seconds_total')).toBeCloseTo(
      (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      0,
    );
    const rss = second.sum('process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(second.sum('nodejs_heap_size_used_bytes'));
    expect(second.sum('process_virtual_memory_bytes')).toBeGreaterThanOrEqual(rss);
    expect(second.sum('process_open_fds')).toBeGreaterThan(0);
    expect(second.sum('process_max_fds')).toBeGreaterThan(second.sum('process_open_fds'));
    expect(second.sum('process_start_time_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
    expect(second.find('nodejs_heap_space_size_used_bytes', { space: 'old' })).toHaveLength(1);
    const [, major, minor, patch] = /^v(\d+)\.(\d+)\.(\d+)/.exec(process.version)!;
    expect(
      second.find('nodejs_version_info', { version: process.version, major, minor, patch })[0].value,
    ).toBe(1);
  });

  it('reports how long the event loop was blocked since the last scrape', async () => {
    const metrics = open();
    await metrics.families();
    // Let the monitor sample, then block the loop: the delay it records is at least most of that.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const blockedUntil = performance.now() + 100;
    while (performance.now() < blockedUntil) {
      // Block.
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    const text = parseExposition(renderFamilies(await metrics.families()));
    expect(text.sum('nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(0.05);
    expect(text.sum('nodejs_eventloop_lag_min_seconds')).toBeLessThanOrEqual(
      text.sum('nodejs_eventloop_lag_max_seconds'),
    );
    expect(text.find('nodejs_eventloop_lag_seconds')).toHaveLength(1);
    // The figures start again after each scrape.
    const next = parseExposition(renderFamilies(await metrics.families()));
    expect(next.sum('nodejs_eventloop_lag_max_seconds')).toBeLessThan(
      text.sum('nodejs_eventloop_lag_max_seconds'),
    );
  });

  it("samples the event-loop delay at a coarser resolution on prom-client's scale, and still catches a block", async () => {
    const coarse = createProcessMetrics({ eventLoopResolutionMs: 100 });
    const fine = open();
    opened.push(coarse);
    await Promise.all([coarse.families(), fine.families()]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const quiet = await Promise.all([coarse.families(), fine.families()]);
    // A quiet loop reads ~10 ms at either resolution (Node counts the time between samples).
    for (const families of quiet) {
      const text = parseExposition(renderFamilies(families));
      expect(text.sum('nodejs_eventloop_lag_min_seconds')).toBeGreaterThan(0.005);
      expect(text.sum('nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.03);
    }
    await new Promise((resolve) => setTimeout(resolve, 120));
    const blockedUntil = performance.now() + 150;
    while (performance.now() < blockedUntil) {
      // Block.
    }
    await new Promise((resolve) => setTimeout(resolve, 120));
    // The sample due during the block came late by most of it, as the fine one's did.
    for (const families of await Promise.all([coarse.families(), fine.families()])) {
      expect(
        parseExposition(renderFamilies(families)).sum('nodejs_eventloop_lag_max_seconds'),
      ).toBeGreaterThan(0.1);
    }
  });

  it('observes garbage collections by kind until closed', async () => {
    const gc = exposeGc();
    const metrics = open();
    const majors = async () =>
      parseExposition(renderFamilies(await metrics.families())).sum('nodejs_gc_duration_seconds_count', {
        kind: 'major',
      });
    gc();
    await eventually(async () => (await majors()) >= 1);
    const text = parseExposition(renderFamilies(await metrics.families()));
    const buckets = text.find('nodejs_gc_duration_seconds_bucket', { kind: 'major' });
    expect(buckets.map((bucket) => bucket.labels.le)).toEqual([
      '0.001',
      '0.01',
      '0.1',
      '1',
      '2',
      '5',
      '+Inf',
    ]);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(buckets.at(-1)?.value).toBe(text.sum('nodejs_gc_duration_seconds_count', { kind: 'major' }));
    expect(text.sum('nodejs_gc_duration_seconds_sum', { kind: 'major' })).toBeGreaterThan(0);

    metrics.close();
    const before = await majors();
    gc();
    // A second, open observer sees the collection: the closed one must not have.
    const witness = open();
    gc();
    await eventually(
      async () =>
        parseExposition(renderFamilies(await witness.families())).sum('nodejs_gc_duration_seconds_count', {
          kind: 'major',
        }) >= 1,
    );
    expect(await majors()).toBe(before);
  });

  it('combines across workers as prom-client does: CPU summed, version first, start time the earliest', async () => {
    const families = await open().families();
    const later = families.map((family) =>
      family.name === 'process_start_time_seconds' && family.type === 'gauge'
        ? { ...family, samples: family.samples.map((sample) => ({ ...sample, value: sample.value + 60 })) }
        : family,
    );
    const one = parseExposition(renderFamilies(families));
    const both = parseExposition(renderFamilies(aggregateFamilies([families, later])));
    expect(both.sum('process_cpu_seconds_total')).toBeCloseTo(2 * one.sum('process_cpu_seconds_total'), 9);
    expect(both.sum('process_start_time_seconds')).toBe(one.sum('process_start_time_seconds'));
    expect(both.find('nodejs_version_info')).toHaveLength(1);
    expect(both.sum('nodejs_version_info')).toBe(1);
    expect(both.sum('process_resident_memory_bytes')).toBe(2 * one.sum('process_resident_memory_bytes'));
  });
});
