/**
 * The span record every tracing part shares: what the proxy records, what the OTLP decoder produces,
 * what the collector keeps and what the exporter sends. Field meanings follow OTLP's Span message;
 * ids are lowercase hex, times unix nanoseconds.
 */

/** OTLP's SpanKind numbers. */
export const SpanKind = {
  Unspecified: 0,
  Internal: 1,
  Server: 2,
  Client: 3,
  Producer: 4,
  Consumer: 5,
} as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

export const SPAN_KIND_NAMES = [
  'unspecified',
  'internal',
  'server',
  'client',
  'producer',
  'consumer',
] as const;
export type SpanKindName = (typeof SPAN_KIND_NAMES)[number];

/** OTLP's Status.StatusCode numbers. */
export const StatusCode = { Unset: 0, Ok: 1, Error: 2 } as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

export const STATUS_CODE_NAMES = ['unset', 'ok', 'error'] as const;

/**
 * An OTLP AnyValue: int64 values that do not fit a double's integer range stay bigint, bytes are a
 * Uint8Array, a key-value list is a plain object.
 */
export type AttributeValue =
  | string
  | number
  | boolean
  | bigint
  | Uint8Array
  | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };

export type Attributes = Record<string, AttributeValue>;

/** Shared by every span of one ResourceSpans: compare by identity to regroup them. */
export interface Resource {
  readonly attributes: Attributes;
  /** `service.name`, or `unknown_service` when the resource has none (OpenTelemetry's default). */
  readonly serviceName: string;
}

export interface Scope {
  readonly name: string;
  readonly version: string;
}

export interface SpanEvent {
  readonly name: string;
  readonly timeUnixNano: bigint;
  readonly attributes: Attributes;
}

export interface SpanLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceState: string;
  readonly attributes: Attributes;
}

export interface SpanStatus {
  readonly code: StatusCode;
  readonly message: string;
}

export interface SpanData {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  /** W3C tracestate as received; '' when none. */
  readonly traceState: string;
  /** W3C trace flags in the low byte (OTLP Span.flags). */
  readonly flags: number;
  readonly name: string;
  readonly kind: SpanKind;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Attributes;
  readonly events: readonly SpanEvent[];
  readonly links: readonly SpanLink[];
  readonly status: SpanStatus;
  readonly resource: Resource;
  readonly scope: Scope;
}

/** Where finished spans go: an exporter's queue, or a collector in the same process. */
export interface SpanSink {
  /** Must not block or throw: a sink that cannot keep up drops and counts. */
  export(span: SpanData): void;
}

/**
 * A plain-object copy of a span, each field read once: a HopSpan computes its OTLP view on every
 * read, so a span kept (by a collector in the same process) is copied first.
 */
export function plainSpan(span: SpanData): SpanData {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    traceState: span.traceState,
    flags: span.flags,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: span.startTimeUnixNano,
    endTimeUnixNano: span.endTimeUnixNano,
    attributes: span.attributes,
    events: span.events,
    links: span.links,
    status: span.status,
    resource: span.resource,
    scope: span.scope,
  };
}

const UNKNOWN_SERVICE = 'unknown_service';

export function createResource(attributes: Attributes): Resource {
  const name = attributes['service.name'];
  return { attributes, serviceName: typeof name === 'string' && name.length > 0 ? name : UNKNOWN_SERVICE };
}

const NANOS_PER_MS = 1_000_000n;

/** Unix nanoseconds → epoch milliseconds (with a fraction; exact to well under a microsecond). */
export function nanosToMs(nanos: bigint): number {
  const ms = nanos / NANOS_PER_MS;
  return Number(ms) + Number(nanos - ms * NANOS_PER_MS) / 1e6;
}

/** Epoch milliseconds (with a fraction) → unix nanoseconds. */
export function msToNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * NANOS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}
