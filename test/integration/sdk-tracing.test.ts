/**
 * SDK tracing against a real control plane: mesh.fetch's CLIENT spans reach the collector over OTLP
 * and are found by search, with the parent a traceparent named; the callee gets the context; a
 * service continues an incoming request's trace with mesh.traceContext.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMeshError } from '../../src/core/index.ts';
import { connect, type Mesh } from '../../src/index.ts';
import { call, eventually, startTestControl, type TestControl } from '../helpers/control.ts';
import { type App, type SeenRequest, startApp } from './sdk-apps.ts';

const logger = pino({ level: 'silent' });
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON is read field by field
type Json = any;

function traceparentOf(request: SeenRequest): { traceId: string; spanId: string; flags: string } {
  const value = request.headers.traceparent;
  expect(typeof value).toBe('string');
  const [version, traceId, spanId, flags] = (value as string).split('-');
  expect(version).toBe('00');
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

/** Every span of a trace, flattened from the tree the API answers with. */
async function spansOf(base: string, traceId: string): Promise<Json[]> {
  const res = await call(base, 'GET', `/api/v1/traces/${traceId}`);
  if (res.status !== 200) return [];
  const spans: Json[] = [];
  const walk = (nodes: Json[]) => {
    for (const node of nodes) {
      spans.push(node);
      walk(node.children ?? []);
    }
  };
  walk(res.body.spans);
  return spans;
}

describe('SDK: tracing mesh.fetch', () => {
  let node: TestControl;
  let mesh: Mesh;
  let orders: App;
  let front: App;
  let flakyCalls = 0;
  const cleanup: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    node = await startTestControl();
    cleanup.push(() => node.close());
    mesh = await connect({
      control: node.url,
      logger,
      tracing: { service: 'shop', sampleRatio: 1 },
    });
    cleanup.push(() => mesh.close());
    orders = await startApp('orders');
    cleanup.push(() => orders.close());
    // Serves a request by calling orders in the same trace.
    front = await startApp('front', (request, res) => {
      const parent = mesh.traceContext(request.headers);
      mesh.fetch('orders', '/from-front', { parent }).then(
        async (answer) => {
          await answer.text();
          res.end('front ok');
        },
        () => {
          res.statusCode = 502;
          res.end();
        },
      );
    });
    cleanup.push(() => front.close());
    const flaky = await startApp('flaky', (_request, res) => {
      flakyCalls++;
      res.statusCode = flakyCalls === 1 ? 503 : 200;
      res.end(String(res.statusCode));
    });
    cleanup.push(() => flaky.close());
    for (const [service, app] of [
      ['orders', orders],
      ['front', front],
      ['flaky', flaky],
    ] as const) {
      await mesh.register({ service, port: app.port, healthPath: '/health', checkInterval: '200ms' });
    }
    await eventually(
      () =>
        ['orders', 'front', 'flaky'].every(
          (service) =>
            mesh.instances(service).length === 1 &&
            mesh.instances(service).every((instance) => instance.health === 'healthy'),
        ),
      10_000,
    );
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('continues a traceparent from the headers: the callee gets the trace, the collector the span', async () => {
    const res = await mesh.fetch('orders', '/items?limit=2', {
      headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01`, tracestate: 'vendor=a' },
    });
    expect(res.status).toBe(200);
    await res.text();
    const seen = orders.requests.at(-1)!;
    const sent = traceparentOf(seen);
    expect(sent.traceId).toBe(TRACE_ID);
    expect(sent.spanId).not.toBe(PARENT_SPAN);
    expect(sent.flags).toBe('01');
    expect(seen.headers.tracestate).toBe('vendor=a');

    let span: Json;
    await eventually(async () => {
      const found = await call(node.url, 'GET', '/api/v1/traces?service=shop');
      if (!found.body.traces?.some((trace: Json) => trace.traceId === TRACE_ID)) return false;
      span = (await spansOf(node.url, TRACE_ID)).find((s) => s.spanId === sent.spanId);
      return span !== undefined;
    }, 10_000);
    expect(span).toMatchObject({
      spanId: sent.spanId,
      parentSpanId: PARENT_SPAN,
      service: 'shop',
      kind: 'client',
      name: 'GET',
    });
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/items',
      'url.query': 'limit=2',
      'http.response.status_code': 200,
      'peer.service': 'orders',
      'server.address': '127.0.0.1',
      'server.port': orders.port,
      'trellis.balancer': 'ewma',
      'trellis.endpoint': `127.0.0.1:${orders.port}`,
      'trellis.attempts': 1,
    });
  });

  it('starts a new trace without a parent, and the callee gets this span as its parent', async () => {
    const res = await mesh.fetch('orders', '/fresh');
    await res.text();
    const sent = traceparentOf(orders.requests.at(-1)!);
    expect(sent.traceId).not.toBe(TRACE_ID);
    expect(sent.flags).toBe('01');
    let spans: Json[] = [];
    await eventually(async () => {
      spans = await spansOf(node.url, sent.traceId);
      return spans.length === 1;
    }, 10_000);
    // The callee's parent is this span: its id is the one the callee received.
    expect(spans[0]).toMatchObject({ spanId: sent.spanId, parentSpanId: null, kind: 'client' });
  });

  it('joins a served request to its caller with mesh.traceContext and { parent }', async () => {
    const res = await mesh.fetch('front', '/page');
    expect(await res.text()).toBe('front ok');
    const toFront = traceparentOf(front.requests.at(-1)!);
    const toOrders = traceparentOf(orders.requests.find((r) => r.url === '/from-front')!);
    expect(toOrders.traceId).toBe(toFront.traceId);
    let spans: Json[] = [];
    await eventually(async () => {
      spans = await spansOf(node.url, toFront.traceId);
      return spans.length === 2;
    }, 10_000);
    const outer = spans.find((span) => span.spanId === toFront.spanId);
    const inner = spans.find((span) => span.spanId === toOrders.spanId);
    expect(outer.attributes['peer.service']).toBe('front');
    expect(inner.parentSpanId).toBe(outer.spanId);
    expect(inner.attributes['peer.service']).toBe('orders');
    expect(outer.children.map((child: Json) => child.spanId)).toEqual([inner.spanId]);
  });

  it('records each attempt with its outcome when a call is retried', async () => {
    const res = await mesh.fetch('flaky', '/once', {
      parent: `00-${TRACE_ID.replace('4', '5')}-${PARENT_SPAN}-01`,
    });
    expect(res.status).toBe(200);
    await res.text();
    const traceId = TRACE_ID.replace('4', '5');
    let spans: Json[] = [];
    await eventually(async () => {
      spans = await spansOf(node.url, traceId);
      return spans.length === 1;
    }, 10_000);
    const [span] = spans;
    expect(span.attributes['trellis.attempts']).toBe(2);
    expect(span.attributes['http.response.status_code']).toBe(200);
    const outcomes = span.events.map((event: Json) => [
      event.attributes['trellis.outcome'],
      event.attributes['http.response.status_code'],
    ]);
    expect(outcomes).toEqual([
      ['status', 503],
      ['ok', 200],
    ]);
  });

  it('refuses a malformed parent naming the field, and bad tracing options at connect', async () => {
    const bad = await mesh.fetch('orders', '/', { parent: 'not-a-traceparent' }).catch((error) => error);
    expect(isMeshError(bad)).toBe(true);
    expect(bad.code).toBe('BAD_REQUEST');
    expect(bad.details[0].path).toBe('parent.traceparent');
    const refused = await connect({
      control: node.url,
      logger,
      tracing: { service: 'shop', sampleRatio: 2 },
    }).catch((error) => error);
    expect(refused.code).toBe('BAD_REQUEST');
    expect(refused.details[0].path).toBe('tracing.sampleRatio');
  });

  it('passes a sampled-out decision on and sends no span for it', async () => {
    const traceId = TRACE_ID.replace('4', '6');
    const res = await mesh.fetch('orders', '/unsampled', {
      headers: { traceparent: `00-${traceId}-${PARENT_SPAN}-00` },
    });
    await res.text();
    const sent = traceparentOf(orders.requests.at(-1)!);
    expect(sent).toMatchObject({ traceId, flags: '00' });
    // A sampled call made after it arrives; the unsampled one never does.
    const after = await mesh.fetch('orders', '/after');
    await after.text();
    const afterId = traceparentOf(orders.requests.at(-1)!).traceId;
    await eventually(async () => (await spansOf(node.url, afterId)).length === 1, 10_000);
    expect((await call(node.url, 'GET', `/api/v1/traces/${traceId}`)).status).toBe(404);
  });
});
