/**
 * OTLP/HTTP encoding: spans → an ExportTraceServiceRequest in OTLP/JSON (hex ids, nanosecond times as
 * decimal strings), grouped back into resources and scopes by identity; and the receiver's
 * ExportTraceServiceResponse in either encoding.
 */
import type { Attributes, AttributeValue, Resource, Scope, SpanData } from './span.ts';

type JsonAnyValue = Record<string, unknown>;
interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}

export function encodeTraceRequestJson(spans: readonly SpanData[]): string {
  const byResource = new Map<Resource, Map<Scope, SpanData[]>>();
  for (const span of spans) {
    let scopes = byResource.get(span.resource);
    if (!scopes) {
      scopes = new Map();
      byResource.set(span.resource, scopes);
    }
    const list = scopes.get(span.scope);
    if (list) list.push(span);
    else scopes.set(span.scope, [span]);
  }
  const resourceSpans = [];
  for (const [resource, scopes] of byResource) {
    const scopeSpans = [];
    for (const [scope, list] of scopes) {
      scopeSpans.push({
        scope: scope.version ? { name: scope.name, version: scope.version } : { name: scope.name },
        spans: list.map(spanJson),
      });
    }
    resourceSpans.push({ resource: { attributes: keyValues(resource.attributes) }, scopeSpans });
  }
  return JSON.stringify({ resourceSpans });
}

function spanJson(span: SpanData): Record<string, unknown> {
  const json: Record<string, unknown> = {
    traceId: span.traceId,
    spanId: span.spanId,
  };
  if (span.parentSpanId) json.parentSpanId = span.parentSpanId;
  if (span.traceState) json.traceState = span.traceState;
  json.flags = span.flags;
  json.name = span.name;
  json.kind = span.kind;
  json.startTimeUnixNano = span.startTimeUnixNano.toString();
  json.endTimeUnixNano = span.endTimeUnixNano.toString();
  json.attributes = keyValues(span.attributes);
  const events = span.events;
  if (events.length > 0) {
    json.events = events.map((event) => ({
      timeUnixNano: event.timeUnixNano.toString(),
      name: event.name,
      attributes: keyValues(event.attributes),
    }));
  }
  const links = span.links;
  if (links.length > 0) {
    json.links = links.map((link) => ({
      traceId: link.traceId,
      spanId: link.spanId,
      traceState: link.traceState || undefined,
      attributes: keyValues(link.attributes),
    }));
  }
  const status = span.status;
  json.status = status.message ? { code: status.code, message: status.message } : { code: status.code };
  return json;
}

function keyValues(attributes: Attributes): JsonKeyValue[] {
  const list: JsonKeyValue[] = [];
  for (const key in attributes) list.push({ key, value: anyValue(attributes[key]!) });
  return list;
}

function anyValue(value: AttributeValue): JsonAnyValue {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      return Number.isSafeInteger(value) ? { intValue: value } : { doubleValue: doubleJson(value) };
    case 'bigint':
      return { intValue: value.toString() };
    default:
      if (value === null) return {};
      if (value instanceof Uint8Array) return { bytesValue: Buffer.from(value).toString('base64') };
      if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
      return { kvlistValue: { values: keyValues(value) } };
  }
}

/** proto3 JSON spells the non-finite doubles as strings. */
function doubleJson(value: number): number | string {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

export type OtlpEncoding = 'json' | 'protobuf';

/**
 * An ExportTraceServiceResponse: empty on full success, else `partial_success` with the number of
 * rejected spans and why.
 */
export function encodeExportResponse(encoding: OtlpEncoding, rejectedSpans: number, message: string): Buffer {
  if (encoding === 'json') {
    const body =
      rejectedSpans > 0
        ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage: message } }
        : {};
    return Buffer.from(JSON.stringify(body));
  }
  if (rejectedSpans === 0) return Buffer.alloc(0);
  // ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; } as field 1.
  const text = Buffer.from(message, 'utf8');
  const inner = Buffer.concat([
    Buffer.from([0x08]),
    varint(rejectedSpans),
    Buffer.from([0x12]),
    varint(text.length),
    text,
  ]);
  return Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
