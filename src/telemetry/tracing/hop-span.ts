/**
 * The span of one proxy hop. The proxy fills plain fields as the request goes (no attribute map,
 * no per-field allocation); the OTLP view (name, attributes, events, status, nano times) is built
 * when the exporter reads it, off the request path.
 */
import { ATTEMPT_EVENT, ATTR, type AttemptOutcome } from './attributes.ts';
import {
  type Attributes,
  msToNanos,
  type Resource,
  type Scope,
  type SpanData,
  type SpanEvent,
  SpanKind,
  type SpanLink,
  type SpanStatus,
  StatusCode,
} from './span.ts';
import type { SpanClock } from './span-clock.ts';

const NO_LINKS: readonly SpanLink[] = Object.freeze([]);
const NO_EVENTS: readonly SpanEvent[] = Object.freeze([]);
const UNSET: SpanStatus = Object.freeze({ code: StatusCode.Unset, message: '' });

interface AttemptRecord {
  atMs: number;
  endpoint: string;
  outcome: AttemptOutcome;
  statusCode: number;
  breakerState: string | undefined;
}

export class HopSpan implements SpanData {
  readonly links = NO_LINKS;
  /** Only sampled hops have a span, so the sampled flag is always set. */
  readonly flags = 1;
  readonly startMs: number;
  endMs = 0;

  /** Request method, e.g. `GET`. */
  method = '';
  /** Request-target as received (origin-form or absolute-form); url.path and url.query come from it. */
  target = '';
  /** Overrides the span name (default: `{method} {httpRoute}`, or `{method}`). */
  operation: string | undefined = undefined;
  /** The matched route's path template (http.route), e.g. `/api/*`. */
  httpRoute: string | undefined = undefined;
  /** The Trellis route's name (trellis.route). */
  route: string | undefined = undefined;
  /** The service the request was sent to (peer.service): the callee in the topology. */
  peerService: string | undefined = undefined;
  /** Server spans: the Host the client addressed; client spans: the upstream endpoint's host. */
  serverAddress: string | undefined = undefined;
  serverPort = 0;
  /** The other end of the connection: the client (server spans) or the endpoint (client spans). */
  peerAddress: string | undefined = undefined;
  peerPort = 0;
  balancer: string | undefined = undefined;
  /** `host:port` of the endpoint of the last attempt. */
  endpoint: string | undefined = undefined;
  breakerState: string | undefined = undefined;
  attempts = 0;
  statusCode = 0;
  /** A MeshError code when the proxy answered with a mesh error. */
  errorCode: string | undefined = undefined;
  private extra: Attributes | undefined = undefined;
  private attemptLog: AttemptRecord[] | undefined = undefined;
  private readonly startMono: number;

  constructor(
    private readonly clock: SpanClock,
    readonly kind: SpanKind,
    readonly resource: Resource,
    readonly scope: Scope,
    readonly traceId: string,
    readonly spanId: string,
    readonly parentSpanId: string,
    readonly traceState: string,
  ) {
    this.startMs = clock.wall();
    this.startMono = clock.mono();
  }

  setAttribute(key: string, value: Attributes[string]): void {
    this.extra ??= {};
    this.extra[key] = value;
  }

  /** Records one upstream attempt as an event; the last one's endpoint is the span's endpoint. */
  attempt(endpoint: string, outcome: AttemptOutcome, statusCode = 0, breakerState?: string): void {
    this.attempts++;
    this.endpoint = endpoint;
    if (breakerState !== undefined) this.breakerState = breakerState;
    this.attemptLog ??= [];
    this.attemptLog.push({ atMs: this.elapsedWall(), endpoint, outcome, statusCode, breakerState });
  }

  /** Ends the span now; the tracer calls this. */
  finish(): void {
    this.endMs = this.elapsedWall();
  }

  private elapsedWall(): number {
    return this.startMs + (this.clock.mono() - this.startMono);
  }

  get name(): string {
    if (this.operation !== undefined) return this.operation;
    return this.httpRoute === undefined ? this.method : `${this.method} ${this.httpRoute}`;
  }

  get startTimeUnixNano(): bigint {
    return msToNanos(this.startMs);
  }

  get endTimeUnixNano(): bigint {
    return msToNanos(this.endMs);
  }

  get status(): SpanStatus {
    if (this.errorCode !== undefined) return { code: StatusCode.Error, message: this.errorCode };
    // HTTP semantic conventions: a server fails on 5xx; a client on 4xx too.
    const limit = this.kind === SpanKind.Client ? 400 : 500;
    if (this.statusCode >= limit) return { code: StatusCode.Error, message: '' };
    return UNSET;
  }

  get attributes(): Attributes {
    const attributes: Attributes = {};
    if (this.method) attributes[ATTR.HTTP_REQUEST_METHOD] = this.method;
    if (this.target) {
      const pathAndQuery = this.target.startsWith('/') ? this.target : stripOrigin(this.target);
      const queryAt = pathAndQuery.indexOf('?');
      attributes[ATTR.URL_PATH] = queryAt === -1 ? pathAndQuery : pathAndQuery.slice(0, queryAt);
      if (queryAt !== -1) attributes[ATTR.URL_QUERY] = pathAndQuery.slice(queryAt + 1);
    }
    if (this.httpRoute !== undefined) attributes[ATTR.HTTP_ROUTE] = this.httpRoute;
    if (this.statusCode > 0) attributes[ATTR.HTTP_RESPONSE_STATUS_CODE] = this.statusCode;
    if (this.serverAddress !== undefined) attributes[ATTR.SERVER_ADDRESS] = this.serverAddress;
    if (this.serverPort > 0) attributes[ATTR.SERVER_PORT] = this.serverPort;
    if (this.peerAddress !== undefined) attributes[ATTR.NETWORK_PEER_ADDRESS] = this.peerAddress;
    if (this.peerPort > 0) attributes[ATTR.NETWORK_PEER_PORT] = this.peerPort;
    if (this.peerService !== undefined) attributes[ATTR.PEER_SERVICE] = this.peerService;
    if (this.route !== undefined) attributes[ATTR.TRELLIS_ROUTE] = this.route;
    if (this.balancer !== undefined) attributes[ATTR.TRELLIS_BALANCER] = this.balancer;
    if (this.endpoint !== undefined) attributes[ATTR.TRELLIS_ENDPOINT] = this.endpoint;
    if (this.attempts > 0) attributes[ATTR.TRELLIS_ATTEMPTS] = this.attempts;
    if (this.breakerState !== undefined) attributes[ATTR.TRELLIS_BREAKER_STATE] = this.breakerState;
    if (this.errorCode !== undefined) {
      attributes[ATTR.TRELLIS_ERROR_CODE] = this.errorCode;
      attributes[ATTR.ERROR_TYPE] = this.errorCode;
    } else if (this.status.code === StatusCode.Error) {
      attributes[ATTR.ERROR_TYPE] = String(this.statusCode);
    }
    if (this.extra !== undefined) Object.assign(attributes, this.extra);
    return attributes;
  }

  get events(): readonly SpanEvent[] {
    const log = this.attemptLog;
    if (log === undefined) return NO_EVENTS;
    return log.map((attempt, index) => {
      const attributes: Attributes = {
        [ATTR.TRELLIS_ATTEMPT]: index + 1,
        [ATTR.TRELLIS_ENDPOINT]: attempt.endpoint,
        [ATTR.TRELLIS_OUTCOME]: attempt.outcome,
      };
      if (attempt.statusCode > 0) attributes[ATTR.HTTP_RESPONSE_STATUS_CODE] = attempt.statusCode;
      if (attempt.breakerState !== undefined) attributes[ATTR.TRELLIS_BREAKER_STATE] = attempt.breakerState;
      return { name: ATTEMPT_EVENT, timeUnixNano: msToNanos(attempt.atMs), attributes };
    });
  }
}

/** `http://host:port/p?q` → `/p?q` (absolute-form targets reach outbound proxies). */
function stripOrigin(target: string): string {
  const scheme = target.indexOf('://');
  if (scheme === -1) return target;
  for (let i = scheme + 3; i < target.length; i++) {
    const c = target[i];
    if (c === '/') return target.slice(i);
    if (c === '?') return `/${target.slice(i)}`;
  }
  return '/';
}
