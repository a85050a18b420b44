import { describe, expect, it } from 'vitest';
import {
  createTraceCollector,
  SpanKind,
  type StoredSpan,
  traceTreeJson,
} from '../../../../src/telemetry/index.ts';
import { id, span } from '../span-fixtures.ts';

const T0 = 1_700_000_000_000;

/** A three-span trace: gateway → orders → payments, the last one failing when asked. */
function threeHops(startMs: number, options: { error?: boolean; slowMs?: number } = {}) {
  const traceId = id(16);
  const gateway = span({
    traceId,
    service: 'gateway',
    name: 'GET /api',
    startMs,
    durationMs: 30 + (options.slowMs ?? 0),
  });
  const orders = span({
    traceId,
    parentSpanId: gateway.spanId,
    service: 'orders',
    name: 'GET /orders',
    startMs: startMs + 2,
    durationMs: 25 + (options.slowMs ?? 0),
  });
  const payments = span({
    traceId,
    parentSpanId: orders.spanId,
    service: 'payments',
    name: 'POST /charge',
    startMs: startMs + 5,
    durationMs: 10,
    error: options.error,
  });
  return { traceId, gateway, orders, payments };
}

describe('trace collector', () => {
  it('builds the tree whatever order the spans arrive in, children by start time', () => {
    const collector = createTraceCollector();
    const trace = threeHops(T0);
    const sibling = span({
      traceId: trace.traceId,
      parentSpanId: trace.gateway.spanId,
      service: 'gateway',
      name: 'auth',
      kind: SpanKind.Internal,
      startMs: T0 + 1,
      durationMs: 1,
    });
    collector.add([trace.payments, sibling]);
    collector.add([trace.orders]);
    collector.add([trace.gateway]);
    const tree = collector.trace(trace.traceId)!;
    expect(tree.roots).toHaveLength(1);
    const root = tree.roots[0]!;
    expect(root.span.data.spanId).toBe(trace.gateway.spanId);
    expect(root.children.map((child) => child.span.data.name)).toEqual(['auth', 'GET /orders']);
    expect(root.children[1]!.children[0]!.span.data.name).toBe('POST /charge');
    expect(tree.summary).toMatchObject({
      traceId: trace.traceId,
      rootService: 'gateway',
      rootOperation: 'GET /api',
      spanCount: 4,
      errorCount: 0,
      services: ['gateway', 'orders', 'payments'],
    });
    expect(tree.summary.durationMs).toBeCloseTo(30, 6);

    const json = traceTreeJson(tree);
    expect(json.spans[0]!.parentSpanId).toBeNull();
    expect(json.spans[0]!.kind).toBe('server');
    expect(json.spans[0]!.children[1]!.children[0]!.service).toBe('payments');
  });

  it('makes a span whose parent never arrived a root, after the true root', () => {
    const collector = createTraceCollector();
    const trace = threeHops(T0);
    collector.add([trace.payments, trace.gateway]);
    const tree = collector.trace(trace.traceId)!;
    expect(tree.roots.map((node) => node.span.service)).toEqual(['gateway', 'payments']);
    expect(tree.summary.rootService).toBe('gateway');
    const orphanOnly = createTraceCollector();
    orphanOnly.add([trace.payments]);
    expect(orphanOnly.trace(trace.traceId)!.summary.rootService).toBe('payments');
  });

  it('stores a span once, however often it is sent', () => {
    const collector = createTraceCollector();
    const trace = threeHops(T0);
    expect(collector.add([trace.gateway, trace.orders])).toEqual({ accepted: 2, rejected: 0, duplicates: 0 });
    expect(collector.add([trace.gateway, trace.orders, trace.payments])).toEqual({
      accepted: 1,
      rejected: 0,
      duplicates: 2,
    });
    expect(collector.stats().spans).toBe(3);
  });

  it('keeps at most maxTraces traces, evicting by arrival (a trace that gets a span moves to the back)', () => {
    const collector = createTraceCollector({ maxTraces: 3 });
    const traces = [0, 1, 2].map((i) => threeHops(T0 + i));
    for (const trace of traces) collector.add([trace.gateway]);
    collector.add([traces[0]!.orders]);
    const fourth = threeHops(T0 + 3);
    collector.add([fourth.gateway]);
    expect(collector.has(traces[0]!.traceId)).toBe(true);
    expect(collector.has(traces[1]!.traceId)).toBe(false);
    expect(collector.has(fourth.traceId)).toBe(true);
    expect(collector.stats()).toMatchObject({ traces: 3, spans: 4, evictedTraces: 1 });
    expect(collector.search({ service: 'gateway' }).total).toBe(3);
  });

  it('caps spans per trace and in total', () => {
    const perTrace = createTraceCollector({ maxSpansPerTrace: 2 });
    const trace = threeHops(T0);
    expect(perTrace.add([trace.gateway, trace.orders, trace.payments])).toEqual({
      accepted: 2,
      rejected: 1,
      duplicates: 0,
    });
    expect(perTrace.trace(trace.traceId)!.summary.droppedSpans).toBe(1);

    const total = createTraceCollector({ maxSpans: 7 });
    const traces = [0, 1, 2].map((i) => threeHops(T0 + i));
    for (const t of traces) total.add([t.gateway, t.orders, t.payments]);
    expect(total.stats().spans).toBeLessThanOrEqual(7);
    expect(total.has(traces[0]!.traceId)).toBe(false);
    expect(total.has(traces[2]!.traceId)).toBe(true);
  });

  it('searches by service, operation, status, minimum duration, time window; newest first', () => {
    const collector = createTraceCollector();
    const ok = threeHops(T0);
    const failing = threeHops(T0 + 1000, { error: true });
    const slow = threeHops(T0 + 2000, { slowMs: 500 });
    const other = span({
      traceId: id(16),
      service: 'inventory',
      name: 'GET /stock',
      startMs: T0 + 3000,
      durationMs: 3,
    });
    for (const trace of [ok, failing, slow]) collector.add([trace.gateway, trace.orders, trace.payments]);
    collector.add([other]);
    const ids = (query: Parameters<typeof collector.search>[0]) =>
      collector.search(query).traces.map((summary) => summary.traceId);

    expect(ids({})).toEqual([other.traceId, slow.traceId, failing.traceId, ok.traceId]);
    expect(ids({ service: 'payments' })).toEqual([slow.traceId, failing.traceId, ok.traceId]);
    expect(ids({ service: 'inventory' })).toEqual([other.traceId]);
    expect(ids({ service: 'nobody' })).toEqual([]);
    expect(ids({ operation: 'GET /stock' })).toEqual([other.traceId]);
    expect(ids({ service: 'payments', operation: 'POST /charge' })).toHaveLength(3);
    // The operation must belong to the service named.
    expect(ids({ service: 'orders', operation: 'POST /charge' })).toEqual([]);
    expect(ids({ status: 'error' })).toEqual([failing.traceId]);
    expect(ids({ status: 'ok', service: 'gateway' })).toEqual([slow.traceId, ok.traceId]);
    expect(ids({ minDurationMs: 100 })).toEqual([slow.traceId]);
    expect(ids({ startMs: T0 + 500, endMs: T0 + 2500 })).toEqual([slow.traceId, failing.traceId]);
    const limited = collector.search({ limit: 2 });
    expect(limited.traces).toHaveLength(2);
    expect(limited.total).toBe(4);
    expect(collector.search({ status: 'error' }).traces[0]).toMatchObject({ error: true, errorCount: 1 });
  });

  it('tells its observer about every span and every parent-child pair once, in any arrival order', () => {
    const seen: string[] = [];
    const collector = createTraceCollector({
      observer: {
        span: (stored: StoredSpan) => seen.push(`span ${stored.service}`),
        link: (parent: StoredSpan, child: StoredSpan) => seen.push(`link ${parent.service}>${child.service}`),
      },
    });
    const trace = threeHops(T0);
    collector.add([trace.orders]);
    collector.add([trace.payments, trace.gateway]);
    collector.add([trace.orders, trace.gateway]);
    expect(seen.sort()).toEqual(
      ['link gateway>orders', 'link orders>payments', 'span gateway', 'span orders', 'span payments'].sort(),
    );
  });
});
