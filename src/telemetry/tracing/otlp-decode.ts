/**
 * OTLP/HTTP trace requests in, SpanData out: ExportTraceServiceRequest as protobuf
 * (application/x-protobuf) or OTLP/JSON (application/json: ids in hex, or base64 as some SDKs send;
 * 64-bit integers as strings or numbers; enums as numbers or names), optionally gzip-compressed.
 * Anything malformed is a MeshError naming the field, e.g. `resourceSpans.0.scopeSpans.0.spans.3.traceId`.
 */
import { gunzipSync } from 'node:zlib';
import { type ErrorDetail, MeshError } from '../../core/index.ts';
import { isAllZero, toHex } from './hex.ts';
import { SPAN_ID_BYTES, TRACE_ID_BYTES } from './ids.ts';
import type { OtlpEncoding } from './otlp-encode.ts';
import { ProtoError, ProtoReader, WireType } from './protobuf.ts';
import {
  type Attributes,
  type AttributeValue,
  createResource,
  type Resource,
  type Scope,
  type SpanData,
  type SpanEvent,
  type SpanKind,
  type SpanLink,
  type SpanStatus,
  StatusCode,
} from './span.ts';

/** Deeper AnyValue nesting than this is refused (it only serves to exhaust the stack). */
const MAX_VALUE_DEPTH = 32;

const SPAN_KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const UNSET_STATUS: SpanStatus = Object.freeze({ code: StatusCode.Unset, message: '' });
const EMPTY_SCOPE: Scope = Object.freeze({ name: '', version: '' });

export interface DecodedRequest {
  encoding: OtlpEncoding;
  spans: SpanData[];
}

export interface DecodeOptions {
  /** Largest body accepted after decompression (bytes). */
  maxBytes: number;
}

/**
 * Decodes a request body by its Content-Type and Content-Encoding. Unsupported types and encodings
 * are UNSUPPORTED_MEDIA_TYPE, a body that inflates past `maxBytes` PAYLOAD_TOO_LARGE, anything
 * malformed BAD_REQUEST.
 */
export function decodeTraceRequest(
  body: Buffer,
  contentType: string | undefined,
  contentEncoding: string | undefined,
  options: DecodeOptions,
): DecodedRequest {
  const encoding = encodingOf(contentType);
  const raw = inflate(body, contentEncoding, options.maxBytes);
  if (encoding === 'protobuf') return { encoding, spans: decodeTraceRequestProtobuf(raw) };
  let parsed: unknown;
  try {
    parsed = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new MeshError('BAD_REQUEST', `malformed OTLP/JSON body: ${(error as Error).message}`);
  }
  return { encoding, spans: decodeTraceRequestJson(parsed) };
}

function encodingOf(contentType: string | undefined): OtlpEncoding {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-protobuf' || mediaType === 'application/protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  throw new MeshError(
    'UNSUPPORTED_MEDIA_TYPE',
    `an OTLP/HTTP body is application/x-protobuf or application/json, got "${contentType ?? '(none)'}"`,
    { details: [{ path: 'content-type', message: 'expected application/x-protobuf or application/json' }] },
  );
}

function inflate(body: Buffer, contentEncoding: string | undefined, maxBytes: number): Buffer {
  const coding = (contentEncoding ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return body;
  if (coding !== 'gzip' && coding !== 'x-gzip') {
    throw new MeshError(
      'UNSUPPORTED_MEDIA_TYPE',
      `unsupported Content-Encoding "${contentEncoding}"; use gzip`,
      {
        details: [{ path: 'content-encoding', message: 'expected gzip or none' }],
      },
    );
  }
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new MeshError(
        'PAYLOAD_TOO_LARGE',
        `the decompressed body exceeds the limit of ${maxBytes} bytes`,
        {
          details: [{ message: 'body too large', limit: maxBytes }],
        },
      );
    }
    throw new MeshError('BAD_REQUEST', `the gzip body does not decompress: ${(error as Error).message}`);
  }
}

function invalid(path: string, message: string): MeshError {
  const details: ErrorDetail[] = [{ path, message }];
  return new MeshError('BAD_REQUEST', `invalid OTLP request: ${path}: ${message}`, { details });
}

/** The fields of a span before validation; ids as bytes. */
interface RawSpan {
  traceId: Uint8Array | undefined;
  spanId: Uint8Array | undefined;
  parentSpanId: Uint8Array | undefined;
  traceState: string;
  flags: number;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Attributes;
  events: SpanEvent[];
  links: SpanLink[];
  status: SpanStatus;
}

function rawSpan(): RawSpan {
  return {
    traceId: undefined,
    spanId: undefined,
    parentSpanId: undefined,
    traceState: '',
    flags: 0,
    name: '',
    kind: 0,
    start: 0n,
    end: 0n,
    attributes: {},
    events: [],
    links: [],
    status: UNSET_STATUS,
  };
}

function buildSpan(raw: RawSpan, resource: Resource, scope: Scope, path: string): SpanData {
  const traceId = requireId(raw.traceId, TRACE_ID_BYTES, `${path}.traceId`);
  const spanId = requireId(raw.spanId, SPAN_ID_BYTES, `${path}.spanId`);
  let parentSpanId = '';
  const parent = raw.parentSpanId;
  if (parent !== undefined && parent.length > 0) {
    if (parent.length !== SPAN_ID_BYTES) {
      throw invalid(`${path}.parentSpanId`, `a span id is ${SPAN_ID_BYTES} bytes, got ${parent.length}`);
    }
    // An all-zero parent is how some SDKs spell "no parent".
    if (!isAllZero(parent, 0, SPAN_ID_BYTES)) parentSpanId = toHex(parent);
  }
  if (raw.kind < 0 || raw.kind > 5 || !Number.isInteger(raw.kind)) {
    throw invalid(`${path}.kind`, `unknown span kind ${raw.kind}`);
  }
  if (raw.end < raw.start) throw invalid(`${path}.endTimeUnixNano`, 'ends before it starts');
  return {
    traceId,
    spanId,
    parentSpanId,
    traceState: raw.traceState,
    flags: raw.flags,
    name: raw.name,
    kind: raw.kind as SpanKind,
    startTimeUnixNano: raw.start,
    endTimeUnixNano: raw.end,
    attributes: raw.attributes,
    events: raw.events,
    links: raw.links,
    status: raw.status,
    resource,
    scope,
  };
}

function requireId(bytes: Uint8Array | undefined, length: number, path: string): string {
  if (bytes === undefined || bytes.length === 0) throw invalid(path, 'required');
  if (bytes.length !== length) throw invalid(path, `expected ${length} bytes, got ${bytes.length}`);
  if (isAllZero(bytes, 0, length)) throw invalid(path, 'an all-zero id is invalid');
  return toHex(bytes);
}

// ── protobuf ─────────────────────────────────────────────────────────────────────────────────────

/** ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; } */
export function decodeTraceRequestProtobuf(body: Uint8Array): SpanData[] {
  const spans: SpanData[] = [];
  const reader = new ProtoReader(body);
  let path = 'body';
  try {
    let index = 0;
    while (reader.more()) {
      const key = reader.key();
      if (key >>> 3 === 1) {
        path = `resourceSpans.${index}`;
        expectWire(key, WireType.Bytes, path);
        readResourceSpans(reader.message(), spans, path);
        index++;
      } else {
        reader.skip(key & 7);
      }
    }
  } catch (error) {
    if (error instanceof ProtoError) throw invalid(path, `malformed protobuf: ${error.message}`);
    throw error;
  }
  return spans;
}

function expectWire(key: number, wireType: number, path: string): void {
  if ((key & 7) !== wireType) {
    throw invalid(path, `field ${key >>> 3} has wire type ${key & 7}, expected ${wireType}`);
  }
}

/** ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; } */
function readResourceSpans(reader: ProtoReader, spans: SpanData[], path: string): void {
  let resource = createResource({});
  const scopeReaders: ProtoReader[] = [];
  while (reader.more()) {
    const key = reader.key();
    const field = key >>> 3;
    if (field === 1) {
      expectWire(key, WireType.Bytes, `${path}.resource`);
      // Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
      const attributes: Attributes = {};
      const message = reader.message();
      while (message.more()) {
        const inner = message.key();
        if (inner >>> 3 === 1) {
          expectWire(inner, WireType.Bytes, `${path}.resource.attributes`);
          readKeyValue(message.message(), attributes, `${path}.resource.attributes`, 0);
        } else {
          message.skip(inner & 7);
        }
      }
      resource = createResource(attributes);
    } else if (field === 2) {
      expectWire(key, WireType.Bytes, `${path}.scopeSpans`);
      // The resource may come after its scope spans on the wire; read those once it is known.
      scopeReaders.push(reader.message());
    } else {
      reader.skip(key & 7);
    }
  }
  scopeReaders.forEach((scopeReader, index) => {
    readScopeSpans(scopeReader, resource, spans, `${path}.scopeSpans.${index}`);
  });
}

/** ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; } */
function readScopeSpans(reader: ProtoReader, resource: Resource, spans: SpanData[], path: string): void {
  let scope = EMPTY_SCOPE;
  const spanReaders: ProtoReader[] = [];
  while (reader.more()) {
    const key = reader.key();
    const field = key >>> 3;
    if (field === 1) {
      expectWire(key, WireType.Bytes, `${path}.scope`);
      scope = readScope(reader.message(), `${path}.scope`);
    } else if (field === 2) {
      expectWire(key, WireType.Bytes, `${path}.spans`);
      spanReaders.push(reader.message());
    } else {
      reader.skip(key & 7);
    }
  }
  spanReaders.forEach((spanReader, index) => {
    spans.push(readSpan(spanReader, resource, scope, `${path}.spans.${index}`));
  });
}

/** InstrumentationScope { string name = 1; string version = 2; … } */
function readScope(reader: ProtoReader, path: string): Scope {
  let name = '';
  let version = '';
  while (reader.more()) {
    const key = reader.key();
    const field = key >>> 3;
    if (field === 1 || field === 2) {
      expectWire(key, WireType.Bytes, path);
      if (field === 1) name = reader.string();
      else version = reader.string();
    } else {
      reader.skip(key & 7);
    }
  }
  return { name, version };
}

/**
 * Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
 * string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
 * repeated KeyValue attributes = 9; repeated Event events = 11; repeated Link links = 13;
 * Status status = 15; fixed32 flags = 16; … }
 */
function readSpan(reader: ProtoReader, resource: Resource, scope: Scope, path: string): SpanData {
  const span = rawSpan();
  while (reader.more()) {
    const key = reader.key();
    switch (key >>> 3) {
      case 1:
        expectWire(key, WireType.Bytes, `${path}.traceId`);
        span.traceId = reader.bytes();
        break;
      case 2:
        expectWire(key, WireType.Bytes, `${path}.spanId`);
        span.spanId = reader.bytes();
        break;
      case 3:
        expectWire(key, WireType.Bytes, `${path}.traceState`);
        span.traceState = reader.string();
        break;
      case 4:
        expectWire(key, WireType.Bytes, `${path}.parentSpanId`);
        span.parentSpanId = reader.bytes();
        break;
      case 5:
        expectWire(key, WireType.Bytes, `${path}.name`);
        span.name = reader.string();
        break;
      case 6:
        expectWire(key, WireType.Varint, `${path}.kind`);
        span.kind = reader.varint();
        break;
      case 7:
        expectWire(key, WireType.Fixed64, `${path}.startTimeUnixNano`);
        span.start = reader.fixed64();
        break;
      case 8:
        expectWire(key, WireType.Fixed64, `${path}.endTimeUnixNano`);
        span.end = reader.fixed64();
        break;
      case 9:
        expectWire(key, WireType.Bytes, `${path}.attributes`);
        readKeyValue(reader.message(), span.attributes, `${path}.attributes`, 0);
        break;
      case 11:
        expectWire(key, WireType.Bytes, `${path}.events`);
        span.events.push(readEvent(reader.message(), `${path}.events.${span.events.length}`));
        break;
      case 13:
        expectWire(key, WireType.Bytes, `${path}.links`);
        span.links.push(readLink(reader.message(), `${path}.links.${span.links.length}`));
        break;
      case 15:
        expectWire(key, WireType.Bytes, `${path}.status`);
        span.status = readStatus(reader.message(), `${path}.status`);
        break;
      case 16:
        expectWire(key, WireType.Fixed32, `${path}.flags`);
        span.flags = reader.fixed32();
        break;
      default:
        reader.skip(key & 7);
    }
  }
  return buildSpan(span, resource, scope, path);
}

/** Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; … } */
function readEvent(reader: ProtoReader, path: string): SpanEvent {
  let name = '';
  let time = 0n;
  const attributes: Attributes = {};
  while (reader.more()) {
    const key = reader.key();
    switch (key >>> 3) {
      case 1:
        expectWire(key, WireType.Fixed64, `${path}.timeUnixNano`);
        time = reader.fixed64();
        break;
      case 2:
        expectWire(key, WireType.Bytes, `${path}.name`);
        name = reader.string();
        break;
      case 3:
        expectWire(key, WireType.Bytes, `${path}.attributes`);
        readKeyValue(reader.message(), attributes, `${path}.attributes`, 0);
        break;
      default:
        reader.skip(key & 7);
    }
  }
  return { name, timeUnixNano: time, attributes };
}

/** Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; … } */
function readLink(reader: ProtoReader, path: string): SpanLink {
  let traceId: Uint8Array | undefined;
  let spanId: Uint8Array | undefined;
  let traceState = '';
  const attributes: Attributes = {};
  while (reader.more()) {
    const key = reader.key();
    switch (key >>> 3) {
      case 1:
        expectWire(key, WireType.Bytes, `${path}.traceId`);
        traceId = reader.bytes();
        break;
      case 2:
        expectWire(key, WireType.Bytes, `${path}.spanId`);
        spanId = reader.bytes();
        break;
      case 3:
        expectWire(key, WireType.Bytes, `${path}.traceState`);
        traceState = reader.string();
        break;
      case 4:
        expectWire(key, WireType.Bytes, `${path}.attributes`);
        readKeyValue(reader.message(), attributes, `${path}.attributes`, 0);
        break;
      default:
        reader.skip(key & 7);
    }
  }
  return {
    traceId: requireId(traceId, TRACE_ID_BYTES, `${path}.traceId`),
    spanId: requireId(spanId, SPAN_ID_BYTES, `${path}.spanId`),
    traceState,
    attributes,
  };
}

/** Status { string message = 2; StatusCode code = 3; } */
function readStatus(reader: ProtoReader, path: string): SpanStatus {
  let message = '';
  let code = 0;
  while (reader.more()) {
    const key = reader.key();
    const field = key >>> 3;
    if (field === 2) {
      expectWire(key, WireType.Bytes, `${path}.message`);
      message = reader.string();
    } else if (field === 3) {
      expectWire(key, WireType.Varint, `${path}.code`);
      code = reader.varint();
    } else {
      reader.skip(key & 7);
    }
  }
  if (code > 2) throw invalid(`${path}.code`, `unknown status code ${code}`);
  return { code: code as StatusCode, message };
}

/** KeyValue { string key = 1; AnyValue value = 2; } into `into`. */
function readKeyValue(reader: ProtoReader, into: Attributes, path: string, depth: number): void {
  let name = '';
  let value: AttributeValue = null;
  while (reader.more()) {
    const key = reader.key();
    const field = key >>> 3;
    if (field === 1) {
      expectWire(key, WireType.Bytes, path);
      name = reader.string();
    } else if (field === 2) {
      expectWire(key, WireType.Bytes, `${path}.${name || 'value'}`);
      value = readAnyValue(reader.message(), `${path}.${name || 'value'}`, depth + 1);
    } else {
      reader.skip(key & 7);
    }
  }
  into[name] = value;
}

/**
 * AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
 * double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
 */
function readAnyValue(reader: ProtoReader, path: string, depth: number): AttributeValue {
  if (depth > MAX_VALUE_DEPTH) throw invalid(path, `values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  let value: AttributeValue = null;
  while (reader.more()) {
    const key = reader.key();
    switch (key >>> 3) {
      case 1:
        expectWire(key, WireType.Bytes, path);
        value = reader.string();
        break;
      case 2:
        expectWire(key, WireType.Varint, path);
        value = reader.bool();
        break;
      case 3:
        expectWire(key, WireType.Varint, path);
        value = reader.int64();
        break;
      case 4:
        expectWire(key, WireType.Fixed64, path);
        value = reader.double();
        break;
      case 5: {
        expectWire(key, WireType.Bytes, path);
        // ArrayValue { repeated AnyValue values = 1; }
        const list: AttributeValue[] = [];
        const message = reader.message();
        while (message.more()) {
          const inner = message.key();
          if (inner >>> 3 === 1) {
            expectWire(inner, WireType.Bytes, path);
            list.push(readAnyValue(message.message(), `${path}.${list.length}`, depth + 1));
          } else {
            message.skip(inner & 7);
          }
        }
        value = list;
        break;
      }
      case 6: {
        expectWire(key, WireType.Bytes, path);
        // KeyValueList { repeated KeyValue values = 1; }
        const object: Attributes = {};
        const message = reader.message();
        while (message.more()) {
          const inner = message.key();
          if (inner >>> 3 === 1) {
            expectWire(inner, WireType.Bytes, path);
            readKeyValue(message.message(), object, path, depth + 1);
          } else {
            message.skip(inner & 7);
          }
        }
        value = object;
        break;
      }
      case 7:
        expectWire(key, WireType.Bytes, path);
        value = Buffer.from(reader.bytes());
        break;
      default:
        reader.skip(key & 7);
    }
  }
  return value;
}

// ── JSON ─────────────────────────────────────────────────────────────────────────────────────────

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(value: unknown, path: string): Json {
  if (!isObject(value)) throw invalid(path, 'expected an object');
  return value;
}

function listAt(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(path, 'expected an array');
  return value;
}

function stringAt(value: unknown, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(path, 'expected a string');
  return value;
}

/** OTLP/JSON ExportTraceServiceRequest (keys in lowerCamelCase; unknown keys ignored). */
export function decodeTraceRequestJson(body: unknown): SpanData[] {
  const root = objectAt(body, 'body');
  const spans: SpanData[] = [];
  listAt(root.resourceSpans, 'resourceSpans').forEach((item, r) => {
    const path = `resourceSpans.${r}`;
    const resourceSpans = objectAt(item, path);
    const attributes: Attributes = {};
    if (resourceSpans.resource !== undefined && resourceSpans.resource !== null) {
      const resourceJson = objectAt(resourceSpans.resource, `${path}.resource`);
      jsonAttributes(resourceJson.attributes, attributes, `${path}.resource.attributes`);
    }
    const resource = createResource(attributes);
    listAt(resourceSpans.scopeSpans, `${path}.scopeSpans`).forEach((scopeItem, s) => {
      const scopePath = `${path}.scopeSpans.${s}`;
      const scopeSpans = objectAt(scopeItem, scopePath);
      let scope = EMPTY_SCOPE;
      if (scopeSpans.scope !== undefined && scopeSpans.scope !== null) {
        const scopeJson = objectAt(scopeSpans.scope, `${scopePath}.scope`);
        scope = {
          name: stringAt(scopeJson.name, `${scopePath}.scope.name`),
          version: stringAt(scopeJson.version, `${scopePath}.scope.version`),
        };
      }
      listAt(scopeSpans.spans, `${scopePath}.spans`).forEach((spanItem, i) => {
        spans.push(jsonSpan(spanItem, resource, scope, `${scopePath}.spans.${i}`));
      });
    });
  });
  return spans;
}

function jsonSpan(item: unknown, resource: Resource, scope: Scope, path: string): SpanData {
  const json = objectAt(item, path);
  const span = rawSpan();
  span.traceId = jsonId(json.traceId, TRACE_ID_BYTES, `${path}.traceId`);
  span.spanId = jsonId(json.spanId, SPAN_ID_BYTES, `${path}.spanId`);
  span.parentSpanId = jsonId(json.parentSpanId, SPAN_ID_BYTES, `${path}.parentSpanId`);
  span.traceState = stringAt(json.traceState, `${path}.traceState`);
  span.flags = json.flags === undefined ? 0 : jsonUint(json.flags, `${path}.flags`, 0xffffffff);
  span.name = stringAt(json.name, `${path}.name`);
  span.kind = jsonEnum(json.kind, SPAN_KINDS, `${path}.kind`);
  span.start = jsonNanos(json.startTimeUnixNano, `${path}.startTimeUnixNano`);
  span.end = jsonNanos(json.endTimeUnixNano, `${path}.endTimeUnixNano`);
  jsonAttributes(json.attributes, span.attributes, `${path}.attributes`);
  listAt(json.events, `${path}.events`).forEach((eventItem, e) => {
    const eventPath = `${path}.events.${e}`;
    const event = objectAt(eventItem, eventPath);
    const attributes: Attributes = {};
    jsonAttributes(event.attributes, attributes, `${eventPath}.attributes`);
    span.events.push({
      name: stringAt(event.name, `${eventPath}.name`),
      timeUnixNano: jsonNanos(event.timeUnixNano, `${eventPath}.timeUnixNano`),
      attributes,
    });
  });
  listAt(json.links, `${path}.links`).forEach((linkItem, l) => {
    const linkPath = `${path}.links.${l}`;
    const link = objectAt(linkItem, linkPath);
    const attributes: Attributes = {};
    jsonAttributes(link.attributes, attributes, `${linkPath}.attributes`);
    span.links.push({
      traceId: requireId(
        jsonId(link.traceId, TRACE_ID_BYTES, `${linkPath}.traceId`),
        TRACE_ID_BYTES,
        `${linkPath}.traceId`,
      ),
      spanId: requireId(
        jsonId(link.spanId, SPAN_ID_BYTES, `${linkPath}.spanId`),
        SPAN_ID_BYTES,
        `${linkPath}.spanId`,
      ),
      traceState: stringAt(link.traceState, `${linkPath}.traceState`),
      attributes,
    });
  });
  if (json.status !== undefined && json.status !== null) {
    const status = objectAt(json.status, `${path}.status`);
    span.status = {
      code: jsonEnum(status.code, STATUS_CODES, `${path}.status.code`) as StatusCode,
      message: stringAt(status.message, `${path}.status.message`),
    };
  }
  return buildSpan(span, resource, scope, path);
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Hex (the OTLP/JSON spelling) or base64 (protobuf's JSON mapping, which some SDKs use). */
function jsonId(value: unknown, length: number, path: string): Uint8Array | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw invalid(path, 'expected a hex string');
  if (value.length === 2 * length) {
    const bytes = Buffer.from(value, 'hex');
    if (bytes.length === length && /^[0-9a-fA-F]+$/.test(value)) return bytes;
  } else if (BASE64.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length === length) return bytes;
  }
  throw invalid(path, `expected ${2 * length} hex digits (or ${length} bytes in base64)`);
}

/** A uint64 as a decimal string or a JSON number. */
function jsonNanos(value: unknown, path: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  throw invalid(path, 'expected unix nanoseconds as a decimal string or an integer');
}

function jsonUint(value: unknown, path: string, max: number): number {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > max) {
    throw invalid(path, `expected an integer from 0 to ${max}`);
  }
  return number;
}

/** An enum as its number or its name (`SPAN_KIND_SERVER`). */
function jsonEnum(value: unknown, names: string[], path: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'string') {
    const index = names.indexOf(value);
    if (index !== -1) return index;
    if (/^\d+$/.test(value) && Number(value) < names.length) return Number(value);
  } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < names.length) {
    return value;
  }
  throw invalid(path, `expected one of ${names.join(', ')} (or 0-${names.length - 1})`);
}

function jsonAttributes(value: unknown, into: Attributes, path: string): void {
  listAt(value, path).forEach((item, index) => {
    const entry = objectAt(item, `${path}.${index}`);
    if (typeof entry.key !== 'string') throw invalid(`${path}.${index}.key`, 'expected a string');
    into[entry.key] = jsonAnyValue(entry.value, `${path}.${entry.key}`, 1);
  });
}

function jsonAnyValue(value: unknown, path: string, depth: number): AttributeValue {
  if (depth > MAX_VALUE_DEPTH) throw invalid(path, `values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  if (value === undefined || value === null) return null;
  const json = objectAt(value, path);
  if ('stringValue' in json) return stringAt(json.stringValue, path);
  if ('boolValue' in json) {
    if (typeof json.boolValue !== 'boolean') throw invalid(path, 'expected a boolean');
    return json.boolValue;
  }
  if ('intValue' in json) return jsonInt(json.intValue, path);
  if ('doubleValue' in json) return jsonDouble(json.doubleValue, path);
  if ('bytesValue' in json) {
    const text = stringAt(json.bytesValue, path);
    if (text.length > 0 && !BASE64.test(text)) throw invalid(path, 'expected base64');
    return Buffer.from(text, 'base64');
  }
  if ('arrayValue' in json) {
    const array = objectAt(json.arrayValue, path);
    return listAt(array.values, path).map((item, index) => jsonAnyValue(item, `${path}.${index}`, depth + 1));
  }
  if ('kvlistValue' in json) {
    const list = objectAt(json.kvlistValue, path);
    const object: Attributes = {};
    listAt(list.values, path).forEach((item, index) => {
      const entry = objectAt(item, `${path}.${index}`);
      if (typeof entry.key !== 'string') throw invalid(`${path}.${index}.key`, 'expected a string');
      object[entry.key] = jsonAnyValue(entry.value, `${path}.${entry.key}`, depth + 1);
    });
    return object;
  }
  return null;
}

function jsonInt(value: unknown, path: string): number | bigint {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
    const big = BigInt(value);
    if (big > 0x7fffffffffffffffn || big < -0x8000000000000000n)
      throw invalid(path, 'out of the int64 range');
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  throw invalid(path, 'expected an integer (a number or a decimal string)');
}

function jsonDouble(value: unknown, path: string): number {
  if (typeof value === 'number') return value;
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  throw invalid(path, 'expected a number');
}
