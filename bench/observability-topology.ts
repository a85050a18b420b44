/**
 * The topology part of `npm run bench:observability`: a mesh of 500 services and 5,000 caller →
 * callee edges, fed as spans through the real path (span collector → span metrics → sliding-window
 * histograms), then the service graph built for a 5-minute and a 1-hour window. The baseline is the
 * naive build: grouping the same observations by edge and sorting each edge's latencies for its
 * percentiles. QUICK=1 shrinks the span count for a smoke run. One process, no network.
 */
import {
  createMeshStats,
  createResource,
  createServiceGraph,
  createSpanMetrics,
  createTraceCollector,
  msToNanos,
  type Resource,
  type SpanData,
  SpanKind,
  StatusCode,
} from '../src/telemetry/index.ts';
import { fmt, median, percentile } from './lib/stats.ts';

const QUICK = process.env.QUICK === '1';
const SERVICES = 500;
const CALLEES_PER_SERVICE = 10;
const EDGES = SERVICES * CALLEES_PER_SERVICE;
const CALLS_PER_EDGE = QUICK ? 4 : 20;
const WINDOW_MS = 5 * 60_000;
const BUILDS = QUICK ? 5 : 20;

interface Observation {
  edge: number;
  durationMs: number;
  failed: boolean;
}

function service(index: number): string {
  return `svc-${String(index).padStart(3, '0')}`;
}

/** A deterministic pseudo-random source (mulberry32), so every run sees the same mesh. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/** One client span per call (peer.service names the callee), spread over the last five minutes. */
function makeSpans(now: number): { spans: SpanData[]; observations: Observation[] } {
  const next = random(42);
  const resources: Resource[] = Array.from({ length: SERVICES }, (_, i) =>
    createResource({ 'service.name': service(i) }),
  );
  const scope = { name: 'bench', version: '' };
  const spans: SpanData[] = [];
  const observations: Observation[] = [];
  let id = 1;
  for (let call = 0; call < CALLS_PER_EDGE; call++) {
    for (let edge = 0; edge < EDGES; edge++) {
      const caller = Math.floor(edge / CALLEES_PER_SERVICE);
      const callee = (caller + 1 + (edge % CALLEES_PER_SERVICE)) % SERVICES;
      // Log-normal-ish latencies around 20 ms; 2% failures.
      const durationMs = Math.exp(Math.log(20) + 0.8 * (next() + next() + next() - 1.5));
      const failed = next() < 0.02;
      const end = now - next() * (WINDOW_MS - 1000);
      const spanId = id++;
      spans.push({
        traceId: hex(spanId, 32),
        spanId: hex(spanId, 16),
        parentSpanId: '',
        traceState: '',
        flags: 1,
        name: 'GET /',
        kind: SpanKind.Client,
        startTimeUnixNano: msToNanos(end - durationMs),
        endTimeUnixNano: msToNanos(end),
        attributes: {
          'peer.service': service(callee),
          'http.response.status_code': failed ? 503 : 200,
        },
        events: [],
        links: [],
        status: { code: failed ? StatusCode.Error : StatusCode.Unset, message: '' },
        resource: resources[caller]!,
        scope,
      });
      observations.push({ edge, durationMs, failed });
    }
  }
  return { spans, observations };
}

/** The baseline: group the raw observations by edge and sort each edge's latencies. */
function naiveBuild(observations: Observation[]): number {
  const byEdge = new Map<number, { durations: number[]; failed: number }>();
  for (const observation of observations) {
    let entry = byEdge.get(observation.edge);
    if (!entry) {
      entry = { durations: [], failed: 0 };
      byEdge.set(observation.edge, entry);
    }
    entry.durations.push(observation.durationMs);
    if (observation.failed) entry.failed++;
  }
  let checksum = 0;
  for (const entry of byEdge.values()) {
    checksum +=
      percentile(entry.durations, 50) + percentile(entry.durations, 95) + percentile(entry.durations, 99);
    checksum += entry.failed / entry.durations.length;
  }
  return checksum;
}

/** Live heap after a full collection (needs --expose-gc, which the npm script passes). */
function liveHeap(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return Number.NaN;
  gc();
  return process.memoryUsage().heapUsed;
}

function time(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

function main(): void {
  console.log(`# Observability benchmark: topology (${QUICK ? 'QUICK' : 'full'}; node ${process.version})\n`);
  const now = Date.now();
  const { spans, observations } = makeSpans(now);
  const clock = () => now;
  const stats = createMeshStats({ now: clock });
  const graph = createServiceGraph({ now: clock });
  const collector = createTraceCollector({ observer: createSpanMetrics({ stats, graph }) });

  const heapBefore = liveHeap();
  const ingestMs = time(() => {
    for (let i = 0; i < spans.length; i += 512) collector.add(spans.slice(i, i + 512));
  });
  const heapWithSpans = liveHeap();
  // The windows alone: the same observations recorded straight into a second graph.
  const windowsOnly = createServiceGraph({ now: clock });
  const heapBeforeWindows = liveHeap();
  for (const span of spans) {
    const end = Number(span.endTimeUnixNano / 1_000_000n);
    const duration = Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6;
    windowsOnly.record(
      span.resource.serviceName,
      span.attributes['peer.service'] as string,
      duration,
      false,
      end,
    );
  }
  const windowsHeap = liveHeap() - heapBeforeWindows;
  const names = Array.from({ length: SERVICES }, (_, i) => service(i));

  let edgesFound = 0;
  const build5m: number[] = [];
  const build1h: number[] = [];
  const naive: number[] = [];
  for (let i = 0; i < BUILDS; i++) {
    build5m.push(
      time(() => {
        edgesFound = graph.graph({ windowMs: WINDOW_MS, services: names, stats }).edges.length;
      }),
    );
    build1h.push(time(() => graph.graph({ windowMs: 3_600_000, services: names, stats })));
    naive.push(time(() => naiveBuild(observations)));
  }
  const topology = graph.graph({ windowMs: WINDOW_MS, services: names, stats });
  const serialized = JSON.stringify(topology).length;

  const rows = [
    ['services · edges in the graph', `${topology.nodes.length} · ${edgesFound}`, ''],
    ['spans ingested (collector → span metrics)', `${spans.length}`, ''],
    ['ingest rate', `${fmt(spans.length / (ingestMs / 1000), 0)} spans/s`, ''],
    ['build, 5 min window (median)', `${fmt(median(build5m))} ms`, fmt(median(build5m) / median(naive))],
    ['build, 1 h window (median)', `${fmt(median(build1h))} ms`, fmt(median(build1h) / median(naive))],
    ['baseline: group + sort raw latencies (median)', `${fmt(median(naive))} ms`, '1.00'],
    ['answer size (JSON)', `${fmt(serialized / 1024, 0)} KiB`, ''],
    [
      'live heap: collector indexes + windows (spans not counted)',
      `${fmt((heapWithSpans - heapBefore) / 1024 / 1024, 1)} MiB`,
      '',
    ],
    [
      `live heap: windows of ${windowsOnly.edgeCount} edges alone`,
      `${fmt(windowsHeap / 1024 / 1024, 1)} MiB`,
      '',
    ],
  ];
  const header = ['topology', 'figure', 'ratio to baseline'];
  const widths = [0, 1, 2].map((column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  if (edgesFound !== EDGES || topology.nodes.length !== SERVICES) {
    console.error(`expected ${SERVICES} services and ${EDGES} edges`);
    process.exitCode = 1;
  }
}

main();
