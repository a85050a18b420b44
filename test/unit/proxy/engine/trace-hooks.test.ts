import type { OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  beginTrace,
  ExchangeObserver,
  exchangeTelemetry,
  ForwardHeadWriter,
} from '../../../../src/proxy/engine/index.ts';
import { createRequestParser, HeaderKind } from '../../../../src/proxy/http1/index.ts';
import type { UpstreamEndpoint } from '../../../../src/proxy/upstream/index.ts';
import {
  createTracer,
  type SpanData,
  SpanKind,
  type SpanSink,
  type Tracer,
} from '../../../../src/telemetry/index.ts';

function parse(raw: string) {
  const parser = createRequestParser();
  expect(parser.execute(Buffer.from(raw, 'latin1'))).toBeGreaterThan(0);
  return parser;
}

function tracer(ratio = 1): { tracer: Tracer; spans: SpanData[] } {
  const spans: SpanData[] = [];
  const sink: SpanSink = { export: (span) => spans.push(span) };
  return { tracer: createTracer({ service: 'orders', sampleRatio: ratio, sink }), spans };
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('trace hooks', () => {
  it('tags b3 headers so that a head without trace headers is told by its mask', () => {
    const plain = parse('GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n');
    expect(plain.kindMask & (HeaderKind.B3 | HeaderKind.Traceparent | HeaderKind.Tracestate)).toBe(0);
    for (const name of ['b3', 'X-B3-TraceId', 'x-b3-spanid', 'x-b3-sampled', 'x-b3-flags']) {
      expect(parse(`GET / HTTP/1.1\r\nHost: h\r\n${name}: 1\r\n\r\n`).kindMask & HeaderKind.B3).toBe(
        HeaderKind.B3,
      );
    }
  });

  it('continues a W3C parent read in place from the head, and starts a root without one', () => {
    const { tracer: t } = tracer();
    const hop = t.hop(SpanKind.Server);
    const head = parse(
      `GET / HTTP/1.1\r\nHost: h\r\ntraceparent: 00-${TRACE_ID}-${PARENT}-01\r\ntracestate: a=1\r\n\r\n`,
    );
    const span = beginTrace(hop, head)!;
    expect(span.traceId).toBe(TRACE_ID);
    expect(span.parentSpanId).toBe(PARENT);
    expect(span.traceState).toBe('a=1');
    expect(hop.traceparent()).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    hop.end(200);

    const root = beginTrace(hop, parse('GET / HTTP/1.1\r\nHost: h\r\n\r\n'))!;
    expect(root.parentSpanId).toBe('');
    expect(root.traceId).not.toBe(TRACE_ID);
  });

  it('takes a B3 parent when no traceparent came, and follows its decision', () => {
    const { tracer: t } = tracer(0);
    const hop = t.hop(SpanKind.Client);
    const sampled = beginTrace(
      hop,
      parse(`GET / HTTP/1.1\r\nHost: h\r\nb3: ${TRACE_ID}-${PARENT}-1\r\n\r\n`),
    );
    expect(sampled?.traceId).toBe(TRACE_ID);
    expect(sampled?.parentSpanId).toBe(PARENT);
    hop.end(200);
    const multi = beginTrace(
      hop,
      parse(
        `GET / HTTP/1.1\r\nHost: h\r\nx-b3-traceid: ${TRACE_ID}\r\nx-b3-spanid: ${PARENT}\r\nx-b3-sampled: 0\r\n\r\n`,
      ),
    );
    expect(multi).toBeNull();
    expect(hop.traceparent()).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
  });

  it('replaces the incoming traceparent in the upstream head, on every path of the head writer', () => {
    const { tracer: t } = tracer();
    const hop = t.hop(SpanKind.Client);
    const writer = new ForwardHeadWriter('10.0.0.1', true);
    const raw = `GET /x HTTP/1.1\r\nHost: h\r\ntraceparent: 00-${TRACE_ID}-${PARENT}-01\r\ntracestate: a=1\r\n\r\n`;
    const head = parse(raw);
    beginTrace(hop, head);
    const out = writer.write(head, undefined, undefined, false, Number.POSITIVE_INFINITY, false, hop);
    const text = out.toString('latin1');
    expect(text.match(/traceparent/g)).toHaveLength(1);
    expect(text).toContain(`${hop.traceparentLine.toString('latin1')}`);
    expect(text).toContain('tracestate: a=1\r\n');
    // With x-forwarded-for (the allocating path) and a deadline.
    const withXff = parse(raw.replace('\r\n\r\n', '\r\nx-forwarded-for: 1.1.1.1\r\n\r\n'));
    beginTrace(hop, withXff);
    const second = writer.write(withXff, undefined, undefined, false, 1_700_000_000_000, false, hop);
    const secondText = second.toString('latin1');
    expect(secondText.match(/traceparent/g)).toHaveLength(1);
    expect(secondText).toContain(hop.traceparentLine.toString('latin1'));
    expect(secondText).toContain('x-trellis-deadline: 1700000000000\r\n');
    // Tracing off: the head goes as it came.
    expect(
      writer.write(head, undefined, undefined, false, Number.POSITIVE_INFINITY, false).toString('latin1'),
    ).toContain(`traceparent: 00-${TRACE_ID}-${PARENT}-01\r\n`);
  });

  it('drops a tracestate that came without a valid traceparent', () => {
    const { tracer: t } = tracer();
    const hop = t.hop(SpanKind.Server);
    const writer = new ForwardHeadWriter('10.0.0.1', false);
    const head = parse('GET / HTTP/1.1\r\nHost: h\r\ntracestate: orphan=1\r\n\r\n');
    beginTrace(hop, head);
    const text = writer
      .write(head, undefined, undefined, false, Number.POSITIVE_INFINITY, false, hop)
      .toString('latin1');
    expect(text).not.toContain('orphan');
    expect(text).toMatch(/traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r\n/);
  });

  it('sets the context on an HTTP/2 request, and records the hop on the span', () => {
    const { tracer: t, spans } = tracer();
    const telemetry = exchangeTelemetry('outbound', t, undefined)!;
    expect(telemetry.kind).toBe(SpanKind.Client);
    const socket = { remotePort: 40_000, bytesWritten: 0 } as Socket;
    const observer = new ExchangeObserver(telemetry, socket, '127.0.0.1');
    observer.begin(
      parse(`GET /p?q=1 HTTP/1.1\r\nHost: b\r\ntraceparent: 00-${TRACE_ID}-${PARENT}-01\r\n\r\n`),
    );
    const headers: OutgoingHttpHeaders = { traceparent: `00-${TRACE_ID}-${PARENT}-01`, tracestate: 'x=1' };
    observer.h2Headers(headers);
    expect(headers.traceparent).toBe(observer.trace!.traceparent());
    expect(headers.traceparent).not.toContain(PARENT);
    expect(headers.tracestate).toBe('x=1');
    const endpoint = { address: '10.0.0.2', port: 8080, breaker: null } as unknown as UpstreamEndpoint;
    observer.attempt(endpoint, 'connect-failure', 0);
    observer.attempt(endpoint, 'ok', 200);
    observer.end(200, null);
    observer.end(200, null);
    expect(spans).toHaveLength(1);
    const span = spans[0]!;
    expect(span.kind).toBe(SpanKind.Client);
    expect(span.parentSpanId).toBe(PARENT);
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/p',
      'url.query': 'q=1',
      'server.address': '10.0.0.2',
      'server.port': 8080,
      'trellis.attempts': 2,
      'trellis.endpoint': '10.0.0.2:8080',
      'http.response.status_code': 200,
    });
    expect(span.events.map((event) => event.attributes['trellis.outcome'])).toEqual([
      'connect-failure',
      'ok',
    ]);
  });

  it('is null when neither tracing nor the access log is on', () => {
    expect(exchangeTelemetry('gateway', undefined, undefined)).toBeNull();
    expect(exchangeTelemetry('gateway', null, { enabled: false } as never)).toBeNull();
    expect(exchangeTelemetry('inbound', tracer().tracer, undefined)?.kind).toBe(SpanKind.Server);
  });
});
