/**
 * Tracing and the access log on the proxy's exchanges. A listener gets an ExchangeTelemetry once
 * (null when both are off, so the engine pays one null check per hook); each client connection makes
 * one ExchangeObserver and reuses it for every exchange: it continues or starts the trace from the
 * request head, hands the head writer the `traceparent` line for the next hop, records the routing
 * decisions and attempts on the span (sampled requests only) and the access record (log enabled only),
 * and ends both when the exchange ends.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { AccessLog } from '../../telemetry/access-log.ts';
import { type AccessRecord, resetAccessRecord } from '../../telemetry/access-record.ts';
import type { Direction } from '../../telemetry/names.ts';
import type { AttemptOutcome } from '../../telemetry/tracing/attributes.ts';
import type { HopSpan } from '../../telemetry/tracing/hop-span.ts';
import { SpanKind } from '../../telemetry/tracing/span.ts';
import type { HopTrace, Tracer } from '../../telemetry/tracing/tracer.ts';
import { HEADER_STRIDE, HeaderKind, type RequestHead } from '../http1/index.ts';
import type { Cluster, UpstreamEndpoint } from '../upstream/index.ts';

/** What the connections of one listener share: its tracer and access log, and how its hops are named. */
export interface ExchangeTelemetry {
  readonly tracer: Tracer | null;
  /** Server for the gateway and inbound hops, Client for outbound. */
  readonly kind: SpanKind;
  /** Null when off. */
  readonly accessLog: AccessLog | null;
  readonly direction: Direction;
}

/** The listener's telemetry, or null when it neither traces nor logs. */
export function exchangeTelemetry(
  direction: Direction,
  tracer: Tracer | null | undefined,
  accessLog: AccessLog | null | undefined,
): ExchangeTelemetry | null {
  const log = accessLog?.enabled === true ? accessLog : null;
  if ((tracer === null || tracer === undefined) && log === null) return null;
  return {
    tracer: tracer ?? null,
    kind: direction === 'outbound' ? SpanKind.Client : SpanKind.Server,
    accessLog: log,
    direction,
  };
}

const TRACE_KINDS = HeaderKind.Traceparent | HeaderKind.Tracestate | HeaderKind.B3;
/** `tracestate: ` (the line's value starts after it). */
const TRACESTATE_PREFIX_LENGTH = 12;

/**
 * Starts the hop from a parsed head. A head with no trace header costs a mask test; W3C headers are
 * read from the head's bytes in place; B3 alone takes the slow path through header strings.
 */
export function beginTrace(trace: HopTrace, head: RequestHead): HopSpan | null {
  const mask = head.kindMask;
  if ((mask & TRACE_KINDS) === 0) return trace.begin(undefined);
  if ((mask & HeaderKind.Traceparent) === 0 && (mask & HeaderKind.B3) !== 0) {
    return trace.beginFromHeaders((name) => head.getHeader(name));
  }
  let tpStart = -1;
  let tpEnd = -1;
  let tsStart = -1;
  let tsEnd = -1;
  const h = head.headers;
  const base = head.base;
  for (let i = 0, n = head.headerCount; i < n; i++) {
    const o = i * HEADER_STRIDE;
    const kind = h[o + 4]!;
    if ((kind & HeaderKind.Traceparent) !== 0 && tpStart < 0) {
      tpStart = base + h[o + 2]!;
      tpEnd = base + h[o + 3]!;
    } else if ((kind & HeaderKind.Tracestate) !== 0 && tsStart < 0) {
      tsStart = base + h[o + 2]!;
      tsEnd = base + h[o + 3]!;
    }
  }
  return trace.begin(head.buf, tpStart, tpEnd, tsStart, tsEnd);
}

/** The lines a head writer adds for the next hop, and whether the incoming tracestate goes. */
export interface TracePropagation {
  readonly traceparentLine: Buffer;
  readonly traceStateLine: Buffer | null;
  readonly dropTraceState: boolean;
}

/** One client connection's view of its exchanges, for the span and the access record. */
export class ExchangeObserver {
  /** Null when the listener does not trace. */
  readonly trace: HopTrace | null;
  /** The sampled request's span; null otherwise. */
  private span: HopSpan | null = null;
  private readonly log: AccessLog | null;
  private readonly record: AccessRecord | null;
  private readonly kind: SpanKind;
  private active = false;
  private attempts = 0;
  private startedAt = 0;
  private writtenAtStart = 0;
  /** Request body bytes received from the client in this exchange (counted by the engine). */
  bytesIn = 0;

  constructor(
    telemetry: ExchangeTelemetry,
    private readonly socket: Socket,
    private readonly peerAddress: string,
  ) {
    this.kind = telemetry.kind;
    this.trace = telemetry.tracer === null ? null : telemetry.tracer.hop(telemetry.kind);
    this.log = telemetry.accessLog;
    this.record = this.log === null ? null : this.log.record(telemetry.direction);
  }

  /** A request head was parsed: starts the exchange's span and record. */
  begin(head: RequestHead): void {
    this.active = true;
    this.attempts = 0;
    const trace = this.trace;
    if (trace !== null) {
      const span = beginTrace(trace, head);
      this.span = span;
      if (span !== null) {
        span.method = head.method;
        span.target = head.target;
        span.peerAddress = this.peerAddress;
        span.peerPort = this.socket.remotePort ?? 0;
        if (this.kind === SpanKind.Server && head.host !== undefined) setServer(span, head.host);
      }
    }
    const record = this.record;
    if (record !== null) {
      this.startedAt = performance.now();
      this.writtenAtStart = this.socket.bytesWritten;
      this.bytesIn = 0;
      record.method = head.method;
      record.path = head.target;
    }
  }

  /**
   * The listener resolved the request to `cluster` (through gateway route `route`, whose path
   * template is `httpRoute`, if any).
   */
  routed(cluster: Cluster, route: string | undefined, httpRoute: string | undefined): void {
    const span = this.span;
    if (span !== null) {
      span.peerService = cluster.name;
      span.balancer = cluster.balancer.kind;
      if (route !== undefined) span.route = route;
      if (httpRoute !== undefined) span.httpRoute = httpRoute;
    }
    const record = this.record;
    if (record !== null) {
      record.service = cluster.name;
      record.route = route;
    }
  }

  /** One upstream attempt ended with `outcome` (`status`: the response's, 0 when none came). */
  attempt(endpoint: UpstreamEndpoint, outcome: AttemptOutcome, status: number): void {
    this.attempts++;
    const span = this.span;
    const record = this.record;
    if (span === null && record === null) return;
    const where = `${endpoint.address}:${endpoint.port}`;
    if (span !== null) {
      span.attempt(where, outcome, status, endpoint.breaker?.state);
      if (this.kind === SpanKind.Client) {
        span.serverAddress = endpoint.address;
        span.serverPort = endpoint.port;
      }
    }
    if (record !== null) record.endpoint = where;
  }

  /**
   * An HTTP/2 request's headers get this hop's context (the h2c branch builds a header object, not
   * a head, so the lines are set as fields).
   */
  h2Headers(headers: OutgoingHttpHeaders): void {
    const trace = this.trace;
    if (trace === null) return;
    headers.traceparent = trace.traceparent();
    if (trace.dropTraceState) delete headers.tracestate;
    const line = trace.traceStateLine;
    if (line !== null)
      headers.tracestate = line.toString('latin1', TRACESTATE_PREFIX_LENGTH, line.length - 2);
  }

  /** The exchange ended with `status` (0: no response head sent) and the mesh error `code`, if any. */
  end(status: number, code: string | null): void {
    if (!this.active) return;
    this.active = false;
    const trace = this.trace;
    if (trace !== null) {
      this.span = null;
      trace.end(status, code ?? undefined);
    }
    const record = this.record;
    if (record === null) return;
    if (trace !== null) {
      const traceparent = trace.traceparent();
      record.traceId = traceparent.slice(3, 35);
      record.spanId = traceparent.slice(36, 52);
    }
    record.status = status;
    record.error = code ?? undefined;
    record.attempts = this.attempts;
    record.durationMs = performance.now() - this.startedAt;
    record.bytesIn = this.bytesIn;
    record.bytesOut = this.socket.bytesWritten - this.writtenAtStart;
    this.log!.log(record);
    resetAccessRecord(record);
  }
}

/** server.address / server.port from a Host value (`name`, `name:port`, `[v6]:port`). */
function setServer(span: HopSpan, host: string): void {
  const colon = host.lastIndexOf(':');
  if (colon > 0 && host.indexOf(']', colon) === -1) {
    span.serverAddress = host.slice(0, colon);
    span.serverPort = Number(host.slice(colon + 1)) || 0;
  } else {
    span.serverAddress = host;
  }
}
