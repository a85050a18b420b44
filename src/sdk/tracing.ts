/**
 * Tracing for `mesh.fetch()`: W3C trace context started or continued per call, a CLIENT span with
 * OpenTelemetry HTTP attributes and the mesh's routing decisions, the context passed on to the
 * callee, and the spans batched to the control plane's OTLP receiver (`<control>/v1/traces`).
 */
import type { Logger } from 'pino';
import type { Headers } from 'undici';
import { MeshError } from '../core/index.ts';
import {
  type BatchExporter,
  createOtlpExporter,
  createTracer,
  Decision,
  formatTraceparent,
  type HopSpan,
  type HopTrace,
  ParentContext,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  SpanKind,
  type Tracer,
} from '../telemetry/index.ts';
import type { TraceContext, TracingOptions } from './types.ts';

/** Spans waiting for the collector beyond this are dropped (and counted), never slowing calls. */
const MAX_QUEUED_SPANS = 2048;
const B3_HEADERS = ['b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];
const TRACESTATE_AT = 'tracestate: '.length;

export interface SdkTracing {
  /**
   * Starts the call's hop from its headers (continuing a `traceparent`, `tracestate` or B3 context
   * they carry, else a new trace), and rewrites them for the callee. `span` is set when sampled.
   */
  begin(headers: Headers): HopTrace;
  /** Delivers the spans still queued (bounded) and stops the exporter. */
  close(): Promise<void>;
}

export interface SdkTracingDeps {
  control: string;
  token: string | undefined;
  logger: Logger;
}

export function createSdkTracing(options: TracingOptions, deps: SdkTracingDeps): SdkTracing {
  const { service, sampleRatio = 1 } = options;
  if (typeof service !== 'string' || service === '') {
    throw badTracing('tracing.service', 'the name of this service in its spans is required');
  }
  if (typeof sampleRatio !== 'number' || !(sampleRatio >= 0 && sampleRatio <= 1)) {
    throw badTracing('tracing.sampleRatio', `expected a number from 0 to 1, got ${String(sampleRatio)}`);
  }
  const exporter: BatchExporter = createOtlpExporter({
    url: new URL('/v1/traces', deps.control).toString(),
    headers: deps.token ? { authorization: `Bearer ${deps.token}` } : undefined,
    maxQueueSize: MAX_QUEUED_SPANS,
    onError: (error, spans) =>
      deps.logger.warn({ err: error, spans }, 'mesh sdk: spans could not be sent to the control plane'),
  });
  const tracer: Tracer = createTracer({ service, sampleRatio, sink: exporter });
  return {
    begin(headers) {
      const hop = tracer.hop(SpanKind.Client);
      const incomingState = headers.get('tracestate') ?? undefined;
      hop.beginFromHeaders((name) => headers.get(name) ?? undefined);
      headers.set('traceparent', hop.traceparent());
      for (const name of B3_HEADERS) headers.delete(name);
      const line = hop.traceStateLine;
      if (line !== null) headers.set('tracestate', line.toString('latin1', TRACESTATE_AT, line.length - 2));
      else if (hop.dropTraceState || incomingState === undefined) headers.delete('tracestate');
      return hop;
    },
    close: () => exporter.close(),
  };
}

/** Fills the span of a sampled call: what was asked for, and of whom. */
export function describeCall(span: HopSpan, method: string, path: string, service: string): void {
  span.method = method;
  span.target = path;
  span.peerService = service;
}

/** Records one attempt on `endpoint` and makes it the span's server. */
export function recordAttempt(
  span: HopSpan,
  endpoint: { address: string; port: number; breaker: { state: string } | null },
  outcome: Parameters<HopSpan['attempt']>[1],
  statusCode: number,
): void {
  span.serverAddress = endpoint.address;
  span.serverPort = endpoint.port;
  span.peerAddress = endpoint.address;
  span.peerPort = endpoint.port;
  span.attempt(`${endpoint.address}:${endpoint.port}`, outcome, statusCode, endpoint.breaker?.state);
}

/** The header reader `traceContext` accepts: a Fetch Headers, or Node's `req.headers`. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Record<string, string | readonly string[] | undefined>;

/**
 * The trace context an incoming request carries (W3C `traceparent`/`tracestate`, or B3), to pass
 * as `parent` to the calls made while serving it; undefined when it carries none that is valid.
 */
export function traceContextOf(source: HeaderSource): TraceContext | undefined {
  const get = headerReader(source);
  const parent = new ParentContext();
  const traceparent = get('traceparent')?.trim();
  if (traceparent !== undefined && parseTraceparent(traceparent, parent)) {
    const tracestate = get('tracestate');
    return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
  }
  const single = get('b3');
  const parsed =
    single !== undefined
      ? parseB3Single(single, parent)
      : parseB3Multi(
          {
            traceId: get('x-b3-traceid'),
            spanId: get('x-b3-spanid'),
            sampled: get('x-b3-sampled'),
            flags: get('x-b3-flags'),
          },
          parent,
        );
  if (!parsed || !parent.valid) return undefined;
  return {
    traceparent: formatTraceparent(parent.traceId(), parent.spanId(), parent.decision === Decision.Sampled),
  };
}

/** Checks a `parent` given to `mesh.fetch()` and returns its traceparent and tracestate. */
export function parentHeaders(parent: TraceContext | string): TraceContext {
  const context = typeof parent === 'string' ? { traceparent: parent } : parent;
  if (typeof context !== 'object' || context === null || typeof context.traceparent !== 'string') {
    throw badFetch('parent', 'expected a traceparent string or { traceparent, tracestate? }');
  }
  if (!parseTraceparent(context.traceparent.trim(), new ParentContext())) {
    throw badFetch('parent.traceparent', `not a valid W3C traceparent: "${context.traceparent}"`);
  }
  if (context.tracestate !== undefined && typeof context.tracestate !== 'string') {
    throw badFetch('parent.tracestate', 'expected a string');
  }
  return context;
}

function headerReader(source: HeaderSource): (name: string) => string | undefined {
  if (typeof (source as { get?: unknown }).get === 'function') {
    const headers = source as { get(name: string): string | null };
    return (name) => headers.get(name) ?? undefined;
  }
  const record = source as Record<string, string | readonly string[] | undefined>;
  return (name) => {
    const value = record[name];
    return Array.isArray(value) ? value.join(',') : (value as string | undefined);
  };
}

function badTracing(path: string, message: string): MeshError {
  return new MeshError('BAD_REQUEST', `connect: ${path}: ${message}`, { details: [{ path, message }] });
}

function badFetch(path: string, message: string): MeshError {
  return new MeshError('BAD_REQUEST', `mesh.fetch: ${path}: ${message}`, { details: [{ path, message }] });
}
