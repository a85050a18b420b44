/**
 * The control plane's collector fed by the real OpenTelemetry SDK and its OTLP exporters (protobuf
 * and JSON, gzip too): search, whole traces, topology, statistics, the seed topology, validation,
 * and forwarding to another OTLP receiver.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trellisConfig, validate } from '../../src/config/index.ts';
import { type ControlNode, startControlNode } from '../../src/control/index.ts';
import {
  createTracer,
  decodeTraceRequestJson,
  SpanKind as Kind,
  type SpanData,
} from '../../src/telemetry/index.ts';
import { call, eventually } from '../helpers/control.ts';

let node: ControlNode;
let base: string;
let dataDir: string;
let forwardServer: Server;
const forwarded: SpanData[] = [];

beforeAll(async () => {
  forwardServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Buffer = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      forwarded.push(...decodeTraceRequestJson(JSON.parse(body.toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => forwardServer.listen(0, '127.0.0.1', resolve));
  const forwardPort = (forwardServer.address() as AddressInfo).port;
  dataDir = await mkdtemp(join(tmpdir(), 'trellis-traces-'));
  const config = validate(trellisConfig, {
    control: { host: '127.0.0.1', port: 0, dataDir },
    gateway: { enabled: false },
    services: [{ name: 'orders' }, { name: 'payments' }, { name: 'idle' }],
    telemetry: {
      otlpEndpoint: `http://127.0.0.1:${forwardPort}`,
      maxTraces: 40,
      maxSpansPerTrace: 8,
      maxOtlpBodyBytes: 256 * 1024,
    },
  });
  node = await startControlNode(config, { logger: pino({ level: 'silent' }) });
  base = node.url;
});

afterAll(async () => {
  await node?.close();
  await new Promise<void>((resolve) => {
    forwardServer?.closeAllConnections();
    forwardServer?.close(() => resolve());
  });
  await rm(dataDir, { recursive: true, force: true });
});

/** One OpenTelemetry SDK per service, each with a real OTLP exporter pointed at the control plane. */
function sdk(service: string, kind: 'proto' | 'json' | 'proto-gzip', batch = false) {
  const url = `${base}/v1/traces`;
  const exporter =
    kind === 'json'
      ? new JsonExporter({ url })
      : new ProtoExporter({ url, ...(kind === 'proto-gzip' ? { compression: 'gzip' as never } : {}) });
  const processor = batch
    ? new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })
    : new SimpleSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
    spanProcessors: [processor],
  });
  return { provider, tracer: provider.getTracer(`${service}-lib`, '1.0.0') };
}

function childOf(parent: Span) {
  return trace.setSpanContext(context.active(), parent.spanContext());
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe('OTLP receiver with real OpenTelemetry exporters', () => {
  let traceId: string;
  let ids: Record<string, string>;

  beforeAll(async () => {
    const gateway = sdk('gateway', 'proto');
    const orders = sdk('orders', 'json', true);
    const payments = sdk('payments', 'proto-gzip');

    const edge = gateway.tracer.startSpan('GET /api/orders', {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'GET', 'url.path': '/api/orders', 'peer.service': 'orders' },
    });
    const serve = orders.tracer.startSpan(
      'GET /orders',
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.response.status_code': 502, retries: 2, ratio: 0.5, cached: false },
      },
      childOf(edge),
    );
    const charge = orders.tracer.startSpan(
      'POST /charge',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'peer.service': 'payments', 'http.response.status_code': 503, tags: ['a', 'b'] },
      },
      childOf(serve),
    );
    charge.addEvent('trellis.attempt', { 'trellis.outcome': 'status', 'trellis.attempt': 1 });
    const handle = payments.tracer.startSpan('POST /charge', { kind: SpanKind.SERVER }, childOf(charge));
    await sleep(15);
    handle.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
    handle.setAttribute('http.response.status_code', 503);
    handle.end();
    charge.setStatus({ code: SpanStatusCode.ERROR });
    charge.end();
    serve.setStatus({ code: SpanStatusCode.ERROR });
    serve.end();
    edge.end();
    traceId = edge.spanContext().traceId;
    ids = {
      edge: edge.spanContext().spanId,
      serve: serve.spanContext().spanId,
      charge: charge.spanContext().spanId,
      handle: handle.spanContext().spanId,
    };
    for (const { provider } of [gateway, orders, payments]) {
      await provider.forceFlush();
      await provider.shutdown();
    }
  });

  it('finds the trace by service, operation and status', async () => {
    const byService = await call(base, 'GET', '/api/v1/traces?service=payments&status=error');
    expect(byService.status).toBe(200);
    expect(byService.body.total).toBe(1);
    expect(byService.body.traces[0]).toMatchObject({
      traceId,
      rootService: 'gateway',
      rootOperation: 'GET /api/orders',
      spanCount: 4,
      error: true,
      errorCount: 3,
      services: ['gateway', 'orders', 'payments'],
    });
    const byOperation = await call(
      base,
      'GET',
      `/api/v1/traces?service=orders&operation=${encodeURIComponent('POST /charge')}`,
    );
    expect(byOperation.body.traces.map((t: { traceId: string }) => t.traceId)).toEqual([traceId]);
    const none = await call(base, 'GET', '/api/v1/traces?service=payments&status=ok');
    expect(none.body).toEqual({ traces: [], total: 0, limit: 20 });
    const slow = await call(base, 'GET', '/api/v1/traces?service=gateway&minDuration=10ms');
    expect(slow.body.total).toBe(1);
    const tooSlow = await call(base, 'GET', '/api/v1/traces?service=gateway&minDuration=1h');
    expect(tooSlow.body.total).toBe(0);
    const now = Date.now();
    const inWindow = await call(
      base,
      'GET',
      `/api/v1/traces?start=${now - 60_000}&end=${new Date(now + 1000).toISOString()}`,
    );
    expect(inWindow.body.traces.map((t: { traceId: string }) => t.traceId)).toContain(traceId);
    const before = await call(base, 'GET', `/api/v1/traces?end=${now - 60_000}`);
    expect(before.body.total).toBe(0);
  });

  it('returns the whole trace as a tree with the parent links the SDKs sent', async () => {
    const res = await call(base, 'GET', `/api/v1/traces/${traceId.toUpperCase()}`);
    expect(res.status).toBe(200);
    const [root] = res.body.spans;
    expect(res.body.spans).toHaveLength(1);
    expect(root).toMatchObject({ spanId: ids.edge, parentSpanId: null, service: 'gateway', kind: 'server' });
    const serve = root.children[0];
    expect(serve).toMatchObject({ spanId: ids.serve, parentSpanId: ids.edge, service: 'orders' });
    expect(serve.attributes).toEqual({
      'http.response.status_code': 502,
      retries: 2,
      ratio: 0.5,
      cached: false,
    });
    expect(serve.resource).toEqual(
      expect.objectContaining({ 'service.name': 'orders', 'deployment.environment': 'test' }),
    );
    expect(serve.scope).toEqual({ name: 'orders-lib', version: '1.0.0' });
    const charge = serve.children[0];
    expect(charge).toMatchObject({ spanId: ids.charge, kind: 'client', status: { code: 'error' } });
    expect(charge.attributes.tags).toEqual(['a', 'b']);
    expect(charge.events).toEqual([
      expect.objectContaining({
        name: 'trellis.attempt',
        attributes: { 'trellis.outcome': 'status', 'trellis.attempt': 1 },
      }),
    ]);
    const handle = charge.children[0];
    expect(handle).toMatchObject({
      spanId: ids.handle,
      parentSpanId: ids.charge,
      service: 'payments',
      status: { code: 'error', message: 'card declined' },
      children: [],
    });
    expect(handle.durationMs).toBeGreaterThanOrEqual(10);
    expect(BigInt(handle.endTimeUnixNano) - BigInt(handle.startTimeUnixNano)).toBeGreaterThanOrEqual(
      10_000_000n,
    );
    expect(res.body.trace).toMatchObject({ traceId, spanCount: 4 });
  });

  it('builds the topology: edges with figures, and every registered service as a node', async () => {
    const res = await call(base, 'GET', '/api/v1/topology?window=1m');
    expect(res.status).toBe(200);
    expect(res.body.windowMs).toBe(60_000);
    const ids = res.body.nodes.map((node: { id: string }) => node.id);
    expect(ids).toEqual(expect.arrayContaining(['gateway', 'orders', 'payments', 'idle']));
    expect(res.body.nodes.find((node: { id: string }) => node.id === 'idle')).toMatchObject({
      registered: true,
      instances: 0,
      stats: { requests: 0 },
    });
    expect(res.body.nodes.find((node: { id: string }) => node.id === 'gateway').registered).toBe(false);
    const edges = Object.fromEntries(
      res.body.edges.map((edge: { source: string; target: string }) => [
        `${edge.source}>${edge.target}`,
        edge,
      ]),
    );
    expect(Object.keys(edges).sort()).toEqual(['gateway>orders', 'orders>payments']);
    expect(edges['gateway>orders']).toMatchObject({ requests: 1, failed: 0 });
    expect(edges['orders>payments']).toMatchObject({ requests: 1, failed: 1, errorRate: 1 });
    expect(edges['orders>payments'].p99Ms).toBeGreaterThanOrEqual(10);

    const seed = await call(base, 'GET', '/api/v1/mesh/v2/topology');
    expect(seed.body.nodes).toContainEqual({ id: 'idle', type: 'service', instances: 0, healthy: 0 });
    expect(seed.body.nodes).toContainEqual({ id: 'gateway', type: 'service', instances: 0, healthy: 0 });
    expect(seed.body.instances).toEqual([]);
    const seedEdge = seed.body.edges.find((edge: { source: string }) => edge.source === 'orders');
    expect(Object.keys(seedEdge).sort()).toEqual(
      [
        'avg_ms',
        'error_rate',
        'failed',
        'p50_ms',
        'p95_ms',
        'p99_ms',
        'request_rate',
        'requests',
        'source',
        'target',
      ].sort(),
    );
    expect(seedEdge).toMatchObject({ target: 'payments', requests: 1, error_rate: 1 });
  });

  it('serves mesh and per-service statistics', async () => {
    const res = await call(base, 'GET', '/api/v1/stats?window=300000');
    expect(res.status).toBe(200);
    expect(res.body.windowMs).toBe(300_000);
    expect(res.body.services.payments).toMatchObject({ requests: 1, failed: 1, errorRate: 1 });
    expect(res.body.services.orders).toMatchObject({ requests: 1, failed: 1 });
    expect(res.body.services.idle).toMatchObject({ requests: 0, p99Ms: null });
    expect(res.body.mesh.requests).toBeGreaterThanOrEqual(3);
    expect(node.telemetry.stats.errorRate('payments', 60_000)).toBe(1);
  });

  it('forwards every received span to the configured OTLP endpoint', async () => {
    await eventually(() => forwarded.filter((span) => span.traceId === traceId).length === 4, 10_000);
    const spans = forwarded.filter((span) => span.traceId === traceId);
    const handle = spans.find((span) => span.spanId === ids.handle)!;
    expect(handle.parentSpanId).toBe(ids.charge);
    expect(handle.resource.serviceName).toBe('payments');
    expect(handle.status).toEqual({ code: 2, message: 'card declined' });
    expect(node.telemetry.forwarding()).toMatchObject({ failed: 0, dropped: 0 });
  });
});

describe('spans from a proxy in the same process', () => {
  it('reach the collector through telemetry.sink, with the routing decisions', async () => {
    const tracer = createTracer({ service: 'edge-gateway', sink: node.telemetry.sink });
    const hop = tracer.hop(Kind.Server);
    const span = hop.begin(undefined)!;
    span.method = 'GET';
    span.target = '/shop/cart?x=1';
    span.route = 'shop';
    span.peerService = 'orders';
    span.attempt('127.0.0.1:9001', 'connect-failure');
    span.attempt('127.0.0.1:9002', 'ok', 200);
    hop.end(200);
    const found = await eventually(async () => {
      const res = await call(base, 'GET', '/api/v1/traces?service=edge-gateway');
      return res.body.total === 1 ? res.body.traces[0] : undefined;
    }, 10_000);
    const tree = await call(base, 'GET', `/api/v1/traces/${found.traceId}`);
    expect(tree.body.spans[0].attributes).toMatchObject({
      'url.path': '/shop/cart',
      'trellis.route': 'shop',
      'trellis.attempts': 2,
      'trellis.endpoint': '127.0.0.1:9002',
      'peer.service': 'orders',
    });
    expect(
      tree.body.spans[0].events.map(
        (event: { attributes: Record<string, unknown> }) => event.attributes['trellis.outcome'],
      ),
    ).toEqual(['connect-failure', 'ok']);
  });
});

describe('OTLP receiver answers', () => {
  const json = (spans: unknown[]) => ({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'raw' } }] },
        scopeSpans: [{ spans }],
      },
    ],
  });
  const rawSpan = (traceId: string, spanId: string, parentSpanId = '') => ({
    traceId,
    spanId,
    parentSpanId,
    name: 'op',
    kind: 2,
    startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
    endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n + 1000n),
  });
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

  async function post(body: Buffer | string, headers: Record<string, string>) {
    const res = await fetch(`${base}/v1/traces`, { method: 'POST', body, headers });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: Buffer.from(await res.arrayBuffer()),
    };
  }

  it('reports spans over the per-trace limit as a partial success, in the request encoding', async () => {
    const traceId = hex(0xabc, 32);
    const spans = Array.from({ length: 10 }, (_, i) => rawSpan(traceId, hex(i + 1, 16)));
    const res = await post(JSON.stringify(json(spans)), { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
    expect(res.type).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({
      partialSuccess: { rejectedSpans: '2', errorMessage: expect.stringContaining('8 spans') },
    });
    const empty = await post(Buffer.alloc(0), { 'content-type': 'application/x-protobuf' });
    expect(empty).toMatchObject({ status: 200, type: 'application/x-protobuf' });
    expect(empty.body).toHaveLength(0);
  });

  it('answers bad payloads with 400 and the mesh error naming the field', async () => {
    const bad = await post(JSON.stringify(json([rawSpan('xyz', hex(1, 16))])), {
      'content-type': 'application/json',
    });
    expect(bad.status).toBe(400);
    const error = JSON.parse(bad.body.toString()).error;
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.details[0].path).toBe('resourceSpans.0.scopeSpans.0.spans.0.traceId');

    const garbage = await post(Buffer.from([0x0a, 0x50, 0x01]), { 'content-type': 'application/x-protobuf' });
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body.toString()).error.message).toMatch(/truncated/);

    const notJson = await post('{', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);

    const type = await post('{}', { 'content-type': 'text/plain' });
    expect(type.status).toBe(415);
    expect(JSON.parse(type.body.toString()).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const large = await post(Buffer.alloc(300 * 1024, 0x20), { 'content-type': 'application/json' });
    expect(large.status).toBe(413);
    const bomb = await post(gzipSync(Buffer.alloc(2 * 1024 * 1024, 0x20)), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(bomb.status).toBe(413);
  });

  it('keeps at most maxTraces traces, the most recent', async () => {
    const traceIds = Array.from({ length: 45 }, (_, i) => hex(0x1000 + i, 32));
    for (const id of traceIds) {
      const res = await post(JSON.stringify(json([rawSpan(id, hex(1, 16))])), {
        'content-type': 'application/json',
      });
      expect(res.status).toBe(200);
    }
    const all = await call(base, 'GET', '/api/v1/traces?limit=1000');
    expect(all.body.total).toBe(40);
    expect((await call(base, 'GET', `/api/v1/traces/${traceIds[0]}`)).status).toBe(404);
    expect((await call(base, 'GET', `/api/v1/traces/${traceIds[44]}`)).status).toBe(200);
  });

  it.each([
    ['/api/v1/traces?limit=0', 'limit'],
    ['/api/v1/traces?limit=ten', 'limit'],
    ['/api/v1/traces?minDuration=fast', 'minDuration'],
    ['/api/v1/traces?status=broken', 'status'],
    ['/api/v1/traces?start=yesterday', 'start'],
    ['/api/v1/traces?start=2000&end=1000', 'end'],
    ['/api/v1/traces/not-a-trace-id', 'traceId'],
    ['/api/v1/topology?window=1s', 'window'],
    ['/api/v1/stats?window=2h', 'window'],
    ['/api/v1/mesh/v2/topology?window=soon', 'window'],
  ])('rejects GET %s naming %s', async (path, field) => {
    const res = await call(base, 'GET', path);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(res.body.error.details[0].path).toBe(field);
  });

  it('answers 404 for a trace it does not hold', async () => {
    const res = await call(base, 'GET', `/api/v1/traces/${'f'.repeat(32)}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });
});
