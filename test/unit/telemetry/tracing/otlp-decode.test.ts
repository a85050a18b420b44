import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  createResource,
  decodeTraceRequest,
  decodeTraceRequestJson,
  decodeTraceRequestProtobuf,
  encodeExportResponse,
  encodeTraceRequestJson,
  type SpanData,
  SpanKind,
  StatusCode,
} from '../../../../src/telemetry/index.ts';
import { failure } from '../../../helpers/mesh-error.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const PARENT = '53995c3f42cd8ad8';
const LIMITS = { maxBytes: 1024 * 1024 };

function request(
  span: Record<string, unknown>,
  resource: unknown = [{ key: 'service.name', value: { stringValue: 'orders' } }],
) {
  return {
    resourceSpans: [
      {
        resource: { attributes: resource },
        scopeSpans: [{ scope: { name: 'lib', version: '1.2' }, spans: [span] }],
      },
    ],
  };
}

function baseSpan(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: TRACE,
    spanId: SPAN,
    parentSpanId: PARENT,
    name: 'GET /orders',
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000012500000',
    ...extra,
  };
}

describe('OTLP/JSON decoding', () => {
  it('decodes hex ids, string and number int64s, attributes of every AnyValue kind, events, status', () => {
    const [span] = decodeTraceRequestJson(
      request(
        baseSpan({
          traceState: 'a=1',
          attributes: [
            { key: 's', value: { stringValue: 'x' } },
            { key: 'b', value: { boolValue: true } },
            { key: 'i', value: { intValue: '42' } },
            { key: 'n', value: { intValue: 7 } },
            { key: 'big', value: { intValue: '9223372036854775807' } },
            { key: 'd', value: { doubleValue: 1.5 } },
            { key: 'nan', value: { doubleValue: 'NaN' } },
            { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 1 }] } } },
            { key: 'kv', value: { kvlistValue: { values: [{ key: 'k', value: { boolValue: false } }] } } },
            { key: 'bytes', value: { bytesValue: 'AQID' } },
            { key: 'empty', value: {} },
          ],
          events: [{ name: 'retry', timeUnixNano: 1700000000005000000, attributes: [] }],
          status: { code: 2, message: 'boom' },
        }),
      ),
    );
    expect(span!.traceId).toBe(TRACE);
    expect(span!.spanId).toBe(SPAN);
    expect(span!.parentSpanId).toBe(PARENT);
    expect(span!.traceState).toBe('a=1');
    expect(span!.kind).toBe(SpanKind.Server);
    expect(span!.startTimeUnixNano).toBe(1700000000000000000n);
    expect(span!.endTimeUnixNano).toBe(1700000000012500000n);
    expect(span!.resource.serviceName).toBe('orders');
    expect(span!.scope).toEqual({ name: 'lib', version: '1.2' });
    expect(span!.status).toEqual({ code: StatusCode.Error, message: 'boom' });
    expect(span!.events[0]!.name).toBe('retry');
    const { nan, bytes, ...attributes } = span!.attributes;
    expect(Number.isNaN(nan)).toBe(true);
    expect([...(bytes as Uint8Array)]).toEqual([1, 2, 3]);
    expect(attributes).toEqual({
      s: 'x',
      b: true,
      i: 42,
      n: 7,
      big: 9223372036854775807n,
      d: 1.5,
      arr: ['a', 1],
      kv: { k: false },
      empty: null,
    });
  });

  it('accepts base64 ids (the protobuf JSON mapping), uppercase hex and enum names', () => {
    const [span] = decodeTraceRequestJson(
      request(
        baseSpan({
          traceId: Buffer.from(TRACE, 'hex').toString('base64'),
          spanId: SPAN.toUpperCase(),
          parentSpanId: Buffer.from(PARENT, 'hex').toString('base64'),
          kind: 'SPAN_KIND_CLIENT',
          status: { code: 'STATUS_CODE_OK' },
        }),
      ),
    );
    expect(span!.traceId).toBe(TRACE);
    expect(span!.spanId).toBe(SPAN);
    expect(span!.parentSpanId).toBe(PARENT);
    expect(span!.kind).toBe(SpanKind.Client);
    expect(span!.status.code).toBe(StatusCode.Ok);
  });

  it('treats a missing or all-zero parent as a root, and a missing service name as unknown_service', () => {
    const [a] = decodeTraceRequestJson(request(baseSpan({ parentSpanId: '' }), []));
    const [b] = decodeTraceRequestJson(request(baseSpan({ parentSpanId: '0000000000000000' })));
    expect(a!.parentSpanId).toBe('');
    expect(b!.parentSpanId).toBe('');
    expect(a!.resource.serviceName).toBe('unknown_service');
  });

  it('accepts an empty request', () => {
    expect(decodeTraceRequestJson({})).toEqual([]);
    expect(decodeTraceRequest(Buffer.alloc(0), 'application/json', undefined, LIMITS).spans).toEqual([]);
  });

  it.each([
    ['a short trace id', { traceId: 'abcd' }, 'resourceSpans.0.scopeSpans.0.spans.0.traceId'],
    ['a missing span id', { spanId: undefined }, 'resourceSpans.0.scopeSpans.0.spans.0.spanId'],
    ['an all-zero trace id', { traceId: '0'.repeat(32) }, 'resourceSpans.0.scopeSpans.0.spans.0.traceId'],
    ['a bad kind', { kind: 9 }, 'resourceSpans.0.scopeSpans.0.spans.0.kind'],
    ['a bad time', { startTimeUnixNano: '12.5' }, 'resourceSpans.0.scopeSpans.0.spans.0.startTimeUnixNano'],
    [
      'an end before the start',
      { endTimeUnixNano: '1' },
      'resourceSpans.0.scopeSpans.0.spans.0.endTimeUnixNano',
    ],
    [
      'a bad status code',
      { status: { code: 'STATUS_CODE_MAYBE' } },
      'resourceSpans.0.scopeSpans.0.spans.0.status.code',
    ],
    [
      'a bad attribute value',
      { attributes: [{ key: 'x', value: { intValue: 'eleven' } }] },
      'resourceSpans.0.scopeSpans.0.spans.0.attributes.x',
    ],
  ])('rejects %s, naming the field', (_name, change, path) => {
    const error = failure(() => decodeTraceRequestJson(request(baseSpan(change))));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.details[0]!.path).toBe(path);
    expect(error.message).toContain(path);
  });

  it('rejects a body that is not an ExportTraceServiceRequest', () => {
    expect(failure(() => decodeTraceRequestJson([])).details[0]!.path).toBe('body');
    expect(failure(() => decodeTraceRequestJson({ resourceSpans: {} })).details[0]!.path).toBe(
      'resourceSpans',
    );
    const malformed = failure(() =>
      decodeTraceRequest(Buffer.from('{"resourceSpans":'), 'application/json', undefined, LIMITS),
    );
    expect(malformed.code).toBe('BAD_REQUEST');
  });

  it('refuses values nested deeper than 32 levels', () => {
    let value: Record<string, unknown> = { stringValue: 'leaf' };
    for (let i = 0; i < 40; i++) value = { arrayValue: { values: [value] } };
    const error = failure(() =>
      decodeTraceRequestJson(request(baseSpan({ attributes: [{ key: 'deep', value }] }))),
    );
    expect(error.message).toContain('nest deeper');
  });

  it('round-trips what the exporter encodes', () => {
    const resource = createResource({ 'service.name': 'orders', region: 'eu' });
    const original: SpanData = {
      traceId: TRACE,
      spanId: SPAN,
      parentSpanId: PARENT,
      traceState: 'ot=th:8',
      flags: 1,
      name: 'GET /orders',
      kind: SpanKind.Client,
      startTimeUnixNano: 1700000000000000001n,
      endTimeUnixNano: 1700000000000500002n,
      attributes: { a: 'x', n: 3, d: 0.25, big: -9007199254740993n, list: [true, null], kv: { z: 'y' } },
      events: [{ name: 'e', timeUnixNano: 1700000000000000100n, attributes: { k: 1 } }],
      links: [{ traceId: TRACE, spanId: PARENT, traceState: '', attributes: {} }],
      status: { code: StatusCode.Error, message: 'nope' },
      resource,
      scope: { name: 'trellis', version: '' },
    };
    const [decoded] = decodeTraceRequestJson(JSON.parse(encodeTraceRequestJson([original])));
    expect({ ...decoded, resource: undefined }).toEqual({ ...original, resource: undefined });
    expect(decoded!.resource.attributes).toEqual(resource.attributes);
  });
});

describe('OTLP/HTTP bodies', () => {
  const json = Buffer.from(JSON.stringify(request(baseSpan())));

  it('inflates gzip and picks the decoder by content type', () => {
    const decoded = decodeTraceRequest(gzipSync(json), 'application/json; charset=utf-8', 'gzip', LIMITS);
    expect(decoded.encoding).toBe('json');
    expect(decoded.spans).toHaveLength(1);
    expect(decodeTraceRequest(Buffer.alloc(0), 'application/x-protobuf', undefined, LIMITS)).toEqual({
      encoding: 'protobuf',
      spans: [],
    });
  });

  it('refuses other content types and encodings, and bodies that inflate past the limit', () => {
    expect(failure(() => decodeTraceRequest(json, 'text/plain', undefined, LIMITS)).code).toBe(
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect(failure(() => decodeTraceRequest(json, 'application/json', 'br', LIMITS)).code).toBe(
      'UNSUPPORTED_MEDIA_TYPE',
    );
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(failure(() => decodeTraceRequest(bomb, 'application/json', 'gzip', LIMITS)).code).toBe(
      'PAYLOAD_TOO_LARGE',
    );
    expect(
      failure(() => decodeTraceRequest(Buffer.from('not gzip'), 'application/json', 'gzip', LIMITS)).code,
    ).toBe('BAD_REQUEST');
  });
});

describe('protobuf decoding of malformed input', () => {
  /** resource_spans { scope_spans { span { … } } } around the given span bytes. */
  function wrap(spanBytes: number[]): Buffer {
    const scope = [0x12, spanBytes.length, ...spanBytes];
    const resource = [0x12, scope.length, ...scope];
    return Buffer.from([0x0a, resource.length, ...resource]);
  }

  it('fails on a truncated message, naming where', () => {
    const body = wrap([0x0a, 16, 1, 2, 3]);
    const error = failure(() => decodeTraceRequestProtobuf(body.subarray(0, body.length)));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toMatch(/truncated/);
  });

  it('fails on a known field with the wrong wire type', () => {
    // Field 1 (trace_id) as a varint instead of bytes.
    const error = failure(() => decodeTraceRequestProtobuf(wrap([0x08, 0x01])));
    expect(error.details[0]!.path).toBe('resourceSpans.0.scopeSpans.0.spans.0.traceId');
  });

  it('fails on ids of the wrong length, and skips unknown fields', () => {
    const traceId = [...Buffer.from(TRACE, 'hex')];
    const spanId = [...Buffer.from(SPAN, 'hex')];
    const unknown = [0xa0, 0x06, 0x05]; // field 100, varint 5
    const good = wrap([0x0a, 16, ...traceId, 0x12, 8, ...spanId, ...unknown, 0x2a, 1, 0x78]);
    const [span] = decodeTraceRequestProtobuf(good);
    expect(span!.traceId).toBe(TRACE);
    expect(span!.name).toBe('x');
    const short = failure(() => decodeTraceRequestProtobuf(wrap([0x0a, 2, 1, 2, 0x12, 8, ...spanId])));
    expect(short.details[0]!.path).toBe('resourceSpans.0.scopeSpans.0.spans.0.traceId');
  });

  it('fails on a varint longer than 10 bytes and on group wire types', () => {
    expect(
      failure(() => decodeTraceRequestProtobuf(Buffer.from([0x10, ...Array(11).fill(0xff), 0x01]))).message,
    ).toMatch(/varint/);
    expect(failure(() => decodeTraceRequestProtobuf(Buffer.from([0x0b]))).message).toMatch(/wire type/);
  });
});

describe('export responses', () => {
  it('encode a partial success in either encoding, and nothing on full success', () => {
    expect(encodeExportResponse('json', 0, '').toString()).toBe('{}');
    expect(JSON.parse(encodeExportResponse('json', 3, 'full').toString())).toEqual({
      partialSuccess: { rejectedSpans: '3', errorMessage: 'full' },
    });
    expect(encodeExportResponse('protobuf', 0, '')).toHaveLength(0);
    // field 1 { field 1 varint 300, field 2 "ab" }
    expect([...encodeExportResponse('protobuf', 300, 'ab')]).toEqual([
      0x0a, 7, 0x08, 0xac, 0x02, 0x12, 2, 0x61, 0x62,
    ]);
  });
});
