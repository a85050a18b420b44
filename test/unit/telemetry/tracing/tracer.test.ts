import { describe, expect, it } from 'vitest';
import {
  ATTEMPT_EVENT,
  createTracer,
  type HopTrace,
  type IdSource,
  nanosToMs,
  ParentContext,
  parseTraceparent,
  type SpanClock,
  type SpanData,
  SpanKind,
  StatusCode,
} from '../../../../src/telemetry/index.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

/** Ids 01 02 03 … so the hop's span ids are predictable. */
function countingIds(): IdSource {
  let next = 1;
  return {
    fill(out, at, count) {
      for (let i = 0; i < count; i++) out[at + i] = next++ & 0xff || 1;
    },
  };
}

function manualClock(startMs: number): SpanClock & { advance(ms: number): void } {
  let mono = 1000;
  return {
    wall: () => startMs + (mono - 1000),
    mono: () => mono,
    advance(ms) {
      mono += ms;
    },
  };
}

function setup(options: { ratio?: number; maxTraceStateLength?: number } = {}) {
  const spans: SpanData[] = [];
  const clock = manualClock(1_700_000_000_000);
  const tracer = createTracer({
    service: 'orders',
    resourceAttributes: { 'service.instance.id': 'orders-1' },
    sampleRatio: options.ratio ?? 1,
    sink: { export: (span) => spans.push(span) },
    ids: countingIds(),
    clock,
    maxTraceStateLength: options.maxTraceStateLength,
  });
  return { tracer, spans, clock };
}

/** A request head as the proxy holds it, with the offsets its parser reports. */
function head(headers: Record<string, string>) {
  let text = 'GET /orders/7?expand=1 HTTP/1.1\r\nhost: api.local\r\n';
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  const buf = Buffer.from(`${text}\r\n`, 'latin1');
  const offsets = (name: string): [number, number] => {
    if (!(name in headers)) return [-1, -1];
    const start = buf.indexOf(`${name}: `) + name.length + 2;
    return [start, start + headers[name]!.length];
  };
  return { buf, tp: offsets('traceparent'), ts: offsets('tracestate') };
}

function begin(hop: HopTrace, headers: Record<string, string>) {
  const { buf, tp, ts } = head(headers);
  return hop.begin(buf, tp[0], tp[1], ts[0], ts[1]);
}

function lineValue(hop: HopTrace): string {
  const line = hop.traceparentLine.toString('latin1');
  expect(line.startsWith('traceparent: ')).toBe(true);
  expect(line.endsWith('\r\n')).toBe(true);
  return line.slice('traceparent: '.length, -2);
}

describe('HopTrace', () => {
  it('continues an incoming trace: same trace id, a new span id, the parent recorded', () => {
    const { tracer } = setup();
    const hop = tracer.hop(SpanKind.Server);
    const span = begin(hop, { traceparent: `00-${TRACE}-${PARENT}-01` });
    expect(span).not.toBeNull();
    const outgoing = new ParentContext();
    expect(parseTraceparent(lineValue(hop), outgoing)).toBe(true);
    expect(outgoing.traceId()).toBe(TRACE);
    expect(outgoing.spanId()).not.toBe(PARENT);
    expect(outgoing.spanId()).toBe(span!.spanId);
    expect(span!.traceId).toBe(TRACE);
    expect(span!.parentSpanId).toBe(PARENT);
    expect(hop.dropTraceState).toBe(false);
    expect(hop.traceStateLine).toBeNull();
  });

  it('starts a trace when there is none, or when the traceparent is invalid', () => {
    const { tracer } = setup();
    const hop = tracer.hop(SpanKind.Server);
    const root = begin(hop, {});
    expect(root!.parentSpanId).toBe('');
    expect(lineValue(hop)).toBe(`00-${root!.traceId}-${root!.spanId}-01`);
    const restarted = begin(hop, { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01`, tracestate: 'a=1' });
    expect(restarted!.parentSpanId).toBe('');
    expect(restarted!.traceId).not.toBe(root!.traceId);
    // tracestate without a valid traceparent belongs to no trace: it is not forwarded.
    expect(hop.dropTraceState).toBe(true);
  });

  it('creates no span for an unsampled request but still propagates the decision', () => {
    const { tracer, spans } = setup();
    const hop = tracer.hop(SpanKind.Server);
    expect(begin(hop, { traceparent: `00-${TRACE}-${PARENT}-00` })).toBeNull();
    expect(hop.sampled).toBe(false);
    expect(lineValue(hop)).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    hop.end(200);
    expect(spans).toHaveLength(0);
  });

  it('writes a new span id for every request on the same connection', () => {
    const { tracer } = setup();
    const hop = tracer.hop(SpanKind.Server);
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      begin(hop, { traceparent: `00-${TRACE}-${PARENT}-01` });
      seen.add(lineValue(hop).slice(36, 52));
      hop.end(200);
    }
    expect(seen.size).toBe(5);
  });

  it('forwards tracestate unchanged, and truncates one over the bound', () => {
    const { tracer } = setup({ maxTraceStateLength: 64 });
    const hop = tracer.hop(SpanKind.Server);
    const kept = begin(hop, { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'congo=t61rcWkgMzE' });
    expect(kept!.traceState).toBe('congo=t61rcWkgMzE');
    expect(hop.dropTraceState).toBe(false);
    hop.end(200);

    const long = Array.from({ length: 8 }, (_, i) => `k${i}=${'v'.repeat(12)}`).join(',');
    const truncated = begin(hop, { traceparent: `00-${TRACE}-${PARENT}-00`, tracestate: long });
    expect(truncated).toBeNull();
    expect(hop.dropTraceState).toBe(true);
    const line = hop.traceStateLine!.toString('latin1');
    expect(line).toMatch(/^tracestate: k0=v+(,k\d=v+)*\r\n$/);
    expect(line.length - 'tracestate: \r\n'.length).toBeLessThanOrEqual(64);
  });

  it('marks sampled roots with the sampling threshold when the ratio is below 1', () => {
    const { tracer } = setup({ ratio: 0.5 });
    const hop = tracer.hop(SpanKind.Server);
    let sampled = 0;
    for (let i = 0; i < 64 && sampled === 0; i++) {
      const span = begin(hop, {});
      if (span) {
        sampled++;
        expect(span.traceState).toBe('ot=th:8');
        expect(hop.traceStateLine!.toString('latin1')).toBe('tracestate: ot=th:8\r\n');
      } else {
        expect(hop.traceStateLine).toBeNull();
      }
      hop.end(200);
    }
    expect(sampled).toBe(1);
  });

  it('reads B3 when there is no traceparent', () => {
    const { tracer } = setup();
    const hop = tracer.hop(SpanKind.Server);
    const headers: Record<string, string> = {
      'x-b3-traceid': TRACE,
      'x-b3-spanid': PARENT,
      'x-b3-sampled': '1',
    };
    const span = hop.beginFromHeaders((name) => headers[name]);
    expect(span!.traceId).toBe(TRACE);
    expect(span!.parentSpanId).toBe(PARENT);
    expect(hop.traceparent()).toBe(`00-${TRACE}-${span!.spanId}-01`);
    const denied = hop.beginFromHeaders((name) => (name === 'b3' ? '0' : undefined));
    expect(denied).toBeNull();
  });

  it('records a hop: HTTP semantic conventions, routing decisions, attempts as events, status', () => {
    const { tracer, spans, clock } = setup();
    const hop = tracer.hop(SpanKind.Client);
    const span = begin(hop, { traceparent: `00-${TRACE}-${PARENT}-01` })!;
    span.method = 'GET';
    span.target = 'http://orders/orders/7?expand=1';
    span.httpRoute = '/orders/*';
    span.route = 'orders-api';
    span.peerService = 'orders';
    span.balancer = 'ewma';
    span.serverAddress = '10.0.0.7';
    span.serverPort = 8080;
    clock.advance(5);
    span.attempt('10.0.0.6:8080', 'connect-failure', 0, 'closed');
    clock.advance(20);
    span.attempt('10.0.0.7:8080', 'status', 503, 'closed');
    clock.advance(15);
    hop.end(503, 'NO_HEALTHY_UPSTREAM');
    expect(hop.span).toBeNull();
    expect(spans).toHaveLength(1);
    const data = spans[0]!;
    expect(data.name).toBe('GET /orders/*');
    expect(data.kind).toBe(SpanKind.Client);
    expect(data.resource.serviceName).toBe('orders');
    expect(data.resource.attributes['service.instance.id']).toBe('orders-1');
    expect(nanosToMs(data.endTimeUnixNano) - nanosToMs(data.startTimeUnixNano)).toBeCloseTo(40, 6);
    expect(data.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/orders/7',
      'url.query': 'expand=1',
      'http.route': '/orders/*',
      'http.response.status_code': 503,
      'server.address': '10.0.0.7',
      'server.port': 8080,
      'peer.service': 'orders',
      'trellis.route': 'orders-api',
      'trellis.balancer': 'ewma',
      'trellis.endpoint': '10.0.0.7:8080',
      'trellis.attempts': 2,
      'trellis.breaker_state': 'closed',
      'trellis.error_code': 'NO_HEALTHY_UPSTREAM',
      'error.type': 'NO_HEALTHY_UPSTREAM',
    });
    expect(data.status).toEqual({ code: StatusCode.Error, message: 'NO_HEALTHY_UPSTREAM' });
    expect(data.events.map((event) => event.name)).toEqual([ATTEMPT_EVENT, ATTEMPT_EVENT]);
    expect(data.events[0]!.attributes).toEqual({
      'trellis.attempt': 1,
      'trellis.endpoint': '10.0.0.6:8080',
      'trellis.outcome': 'connect-failure',
      'trellis.breaker_state': 'closed',
    });
    expect(data.events[1]!.attributes['http.response.status_code']).toBe(503);
    expect(nanosToMs(data.events[1]!.timeUnixNano) - nanosToMs(data.startTimeUnixNano)).toBeCloseTo(25, 6);
  });

  it('sets error status by the HTTP conventions: 5xx for servers, 4xx too for clients', () => {
    const { tracer, spans } = setup();
    for (const [kind, status, error] of [
      [SpanKind.Server, 404, false],
      [SpanKind.Server, 502, true],
      [SpanKind.Client, 404, true],
      [SpanKind.Client, 200, false],
    ] as const) {
      const hop = tracer.hop(kind);
      begin(hop, {})!.method = 'GET';
      hop.end(status);
      const data = spans.at(-1)!;
      expect(data.status.code === StatusCode.Error).toBe(error);
      expect(data.attributes['error.type']).toBe(error ? String(status) : undefined);
    }
  });
});
