import { describe, expect, it } from 'vitest';
import {
  createMeshStats,
  createServiceGraph,
  createSpanMetrics,
  createTraceCollector,
  type SpanData,
  SpanKind,
  type TopologyEdge,
} from '../../../src/telemetry/index.ts';
import { id, span } from './span-fixtures.ts';

const T0 = 1_700_000_000_000;

function setup() {
  let now = T0;
  const clock = {
    now: () => now,
    set(ms: number) {
      now = ms;
    },
  };
  const stats = createMeshStats({ now: clock.now });
  const graph = createServiceGraph({ now: clock.now });
  const collector = createTraceCollector({ observer: createSpanMetrics({ stats, graph }) });
  return { clock, stats, graph, collector };
}

function edge(edges: TopologyEdge[], source: string, target: string): TopologyEdge | undefined {
  return edges.find((e) => e.source === source && e.target === target);
}

/**
 * 60 s of synthetic traffic, one request every 100 ms (600 traces):
 * gateway (server, peer.service=frontend) → frontend server → frontend client (peer.service=orders)
 * → orders server; every 4th request orders also calls payments, from an instrumented app span with
 * no peer.service (a parent/child pair); every 10th payments call fails with a 503.
 */
function traffic(): { spans: SpanData[]; ordersLatencies: number[] } {
  const spans: SpanData[] = [];
  const ordersLatencies: number[] = [];
  for (let i = 0; i < 600; i++) {
    const start = T0 + i * 100;
    const traceId = id(16);
    const ordersMs = 10 + (i % 50);
    ordersLatencies.push(ordersMs);
    const gateway = span({
      traceId,
      service: 'gateway',
      kind: SpanKind.Server,
      peerService: 'frontend',
      startMs: start,
      durationMs: ordersMs + 8,
      status: 200,
    });
    const frontend = span({
      traceId,
      parentSpanId: gateway.spanId,
      service: 'frontend',
      startMs: start + 1,
      durationMs: ordersMs + 6,
      status: 200,
    });
    const call = span({
      traceId,
      parentSpanId: frontend.spanId,
      service: 'frontend',
      kind: SpanKind.Client,
      peerService: 'orders',
      startMs: start + 2,
      durationMs: ordersMs + 2,
      status: 200,
    });
    const orders = span({
      traceId,
      parentSpanId: call.spanId,
      service: 'orders',
      startMs: start + 3,
      durationMs: ordersMs,
      status: 200,
    });
    spans.push(gateway, frontend, call, orders);
    if (i % 4 === 0) {
      const failing = (i / 4) % 10 === 0;
      const appCall = span({
        traceId,
        parentSpanId: orders.spanId,
        service: 'orders',
        kind: SpanKind.Client,
        startMs: start + 4,
        durationMs: 5,
      });
      const payments = span({
        traceId,
        parentSpanId: appCall.spanId,
        service: 'payments',
        startMs: start + 5,
        durationMs: 4,
        error: failing,
        status: failing ? 503 : 200,
      });
      spans.push(payments, appCall);
    }
  }
  return { spans, ordersLatencies };
}

describe('service graph from spans', () => {
  it('finds caller → callee edges with their request rate, error rate and percentiles', () => {
    const { clock, stats, graph, collector } = setup();
    const { spans } = traffic();
    clock.set(T0 + 60_000);
    // Spans arrive in batches, children sometimes before their parents.
    for (let i = 0; i < spans.length; i += 7) collector.add(spans.slice(i, i + 7).reverse());

    const topology = graph.graph({
      windowMs: 60_000,
      services: ['gateway', 'frontend', 'orders', 'payments', 'idle'],
      stats,
    });
    expect(topology.nodes.map((node) => node.id)).toEqual([
      'frontend',
      'gateway',
      'idle',
      'orders',
      'payments',
    ]);
    expect(topology.nodes.find((node) => node.id === 'idle')).toMatchObject({
      registered: true,
      stats: { requests: 0 },
    });
    expect(topology.edges.map((e) => `${e.source}>${e.target}`).sort()).toEqual([
      'frontend>orders',
      'gateway>frontend',
      'orders>payments',
    ]);

    const gatewayToFrontend = edge(topology.edges, 'gateway', 'frontend')!;
    expect(gatewayToFrontend.requests).toBe(600);
    expect(gatewayToFrontend.rps).toBeCloseTo(10, 1);
    expect(gatewayToFrontend.errorRate).toBe(0);

    // Measured by the caller: the client span's latencies (orders + 2 ms = 12..61 ms, mean 36.5).
    const frontendToOrders = edge(topology.edges, 'frontend', 'orders')!;
    expect(frontendToOrders.requests).toBe(600);
    expect(frontendToOrders.avgMs).toBeCloseTo(36.5, 3);
    expect(frontendToOrders.maxMs).toBe(61);
    expect(frontendToOrders.p50Ms!).toBeGreaterThan(36.5 / 1.26);
    expect(frontendToOrders.p50Ms!).toBeLessThan(36.5 * 1.26);
    expect(frontendToOrders.p99Ms!).toBeLessThanOrEqual(61);
    expect(frontendToOrders.p99Ms!).toBeGreaterThan(61 / 1.26);

    const ordersToPayments = edge(topology.edges, 'orders', 'payments')!;
    expect(ordersToPayments.requests).toBe(150);
    expect(ordersToPayments.failed).toBe(15);
    expect(ordersToPayments.errorRate).toBeCloseTo(0.1, 6);
    expect(ordersToPayments.p99Ms).toBe(4);
    expect(topology.edges[topology.edges.length - 1]).toBe(ordersToPayments);

    // Each service's own requests (its server spans): the gateway and frontend and orders 600, payments 150.
    expect(stats.serviceFigures('orders', 60_000)).toMatchObject({ requests: 600, failed: 0 });
    expect(stats.serviceFigures('payments', 60_000)).toMatchObject({ requests: 150, failed: 15 });
    expect(stats.meshFigures(60_000).requests).toBe(600 * 3 + 150);
  });

  it('counts a call once when the caller names the callee and the callee traces it too', () => {
    const { clock, graph, collector } = setup();
    clock.set(T0 + 1000);
    const traceId = id(16);
    const client = span({
      traceId,
      service: 'a',
      kind: SpanKind.Client,
      peerService: 'b',
      startMs: T0,
      durationMs: 10,
    });
    const server = span({
      traceId,
      parentSpanId: client.spanId,
      service: 'b',
      startMs: T0 + 1,
      durationMs: 8,
    });
    collector.add([server]);
    collector.add([client]);
    const edges = graph.graph({ windowMs: 60_000 }).edges;
    expect(edges).toHaveLength(1);
    expect(edges[0]).toMatchObject({ source: 'a', target: 'b', requests: 1, maxMs: 10 });
  });

  it('does not count answered 4xx as failures, but counts errors without a status', () => {
    const { clock, stats, collector } = setup();
    clock.set(T0 + 1000);
    collector.add([
      span({ traceId: id(16), service: 'a', startMs: T0, durationMs: 1, error: true, status: 404 }),
      span({ traceId: id(16), service: 'a', startMs: T0, durationMs: 1, error: true }),
      span({ traceId: id(16), service: 'a', startMs: T0, durationMs: 1, error: true, status: 500 }),
    ]);
    expect(stats.serviceFigures('a', 60_000)).toMatchObject({ requests: 3, failed: 2 });
  });

  it('scales sampled spans by the adjusted count in their tracestate', () => {
    const { clock, graph, stats, collector } = setup();
    clock.set(T0 + 1000);
    const traceId = id(16);
    collector.add([
      span({
        traceId,
        service: 'a',
        kind: SpanKind.Client,
        peerService: 'b',
        startMs: T0,
        durationMs: 3,
        traceState: 'ot=th:c',
      }),
      span({ traceId: id(16), service: 'b', startMs: T0, durationMs: 2, traceState: 'ot=th:c' }),
    ]);
    expect(graph.graph({ windowMs: 60_000 }).edges[0]!.requests).toBe(4);
    expect(stats.serviceFigures('b', 60_000).requests).toBe(4);
  });

  it('lets edges age out of the window', () => {
    const { clock, graph, collector } = setup();
    const { spans } = traffic();
    clock.set(T0 + 60_000);
    collector.add(spans);
    clock.set(T0 + 60_000 + 10 * 60_000);
    expect(graph.graph({ windowMs: 5 * 60_000, services: ['orders'] })).toEqual({
      windowMs: 300_000,
      nodes: [{ id: 'orders', registered: true }],
      edges: [],
    });
    expect(graph.graph({ windowMs: 60 * 60_000 }).edges).toHaveLength(3);
  });
});
