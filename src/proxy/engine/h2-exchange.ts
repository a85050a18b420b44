import type {
  ClientHttp2Stream,
  IncomingHttpHeaders,
  IncomingHttpStatusHeader,
  OutgoingHttpHeaders,
} from 'node:http2';
import type { Socket } from 'node:net';
import { type AttemptOutcome, type Clock, isIdempotent } from '../../core/index.ts';
import { type CannedResponse, cannedResponse, MESH_ERRORS } from '../error-responses.ts';
import {
  ChunkedDecoder,
  errorResponse,
  findHeader,
  HeaderKind,
  isHttpParseError,
  parseErrorResponse,
  type RequestHead,
} from '../http1/index.ts';
import type {
  Cluster,
  ClusterWaiter,
  ExchangeSettings,
  H2Session,
  UpstreamEndpoint,
} from '../upstream/index.ts';
import type { EngineContext, Resolution } from './context.ts';
import { attemptDeadline, DueTimer, upstreamDue } from './due-timer.ts';
import { CONTINUE_100 } from './forward-head.ts';
import {
  BodyFraming,
  H2RequestHeadWriter,
  h1InterimHead,
  h1LastChunk,
  h1ResponseHead,
  h2Trailers,
  rawHeadersOf,
} from './h2-head.ts';
import { ReplyWait } from './reply-poller.ts';
import { retryAt } from './retry-gate.ts';
import type { ExchangeObserver } from './trace-hooks.ts';

/** The client connection an HTTP/2 exchange runs on (ClientConnection). */
export interface H2ExchangeHost {
  readonly socket: Socket;
  /**
   * The exchange is over, its response (or a mesh error) out: `status` (0: none) and the mesh error
   * `code` for metrics; `close`: the client connection must close after what was written.
   */
  h2Done(close: boolean, status: number, code: string | null): void;
  /** Bytes of the client's last read are still referenced: its read buffer must not be read into again. */
  keepClientReadBuffer(): void;
  /** Tracing and the access log of the connection's exchanges (null: both off). */
  readonly observer: ExchangeObserver | null;
}

/** The attempt counters of the exchange's metrics (telemetry's RequestStats has them). */
export interface AttemptCounters {
  retries: number;
  budgetExhausted: number;
  connectErrors: number;
}

// Phases of an exchange.
const X_IDLE = 0;
/** Waiting for a concurrency slot. */
const X_QUEUED = 1;
/** Waiting out the back-off before a retry. */
const X_BACKOFF = 2;
/** A stream is open: the response is awaited or streamed back. */
const X_UPSTREAM = 3;

const INF = Number.POSITIVE_INFINITY;
const CRLF = Buffer.from('\r\n', 'latin1');
/** RST_STREAM's CANCEL code (RFC 9113 §7; node:http2's constants.NGHTTP2_CANCEL, which loads lazily). */
const NGHTTP2_CANCEL = 0x8;

const UPGRADE_NOT_SUPPORTED = cannedResponse(
  'UPGRADE_NOT_SUPPORTED',
  'the service is reached over HTTP/2 (h2c), which cannot carry a protocol upgrade such as WebSocket',
);

/**
 * One client connection's exchanges with h2c clusters: the HTTP/1.1 request the ClientConnection
 * parsed goes upstream as an HTTP/2 stream on the endpoint's shared session, and the response comes
 * back to the client as HTTP/1.1. The engine's semantics are kept: the cluster's admission, balancer
 * pick, breaker and outlier accounting, per-try and request timeouts, the idle timeout, retries (with
 * back-off, budget and deadline) of connect failures, resets (a REFUSED_STREAM among them), per-try
 * timeouts and retriable statuses, only for requests that can be sent again; mesh errors as JSON.
 *
 * The ClientConnection hands an exchange over after resolving its head (`start`), passes it the
 * request body bytes (`receive`), and gets the connection back through `host.h2Done`. Created once per
 * client connection, on its first h2c exchange, and reused.
 */
export class H2Exchange implements ClusterWaiter {
  private readonly host: H2ExchangeHost;
  private readonly socket: Socket;
  private readonly ctx: EngineContext;
  private readonly clock: Clock;
  private readonly heads: H2RequestHeadWriter;
  private readonly remoteAddress: string;
  private decoder: ChunkedDecoder | null = null;

  private phase = X_IDLE;
  private cluster: Cluster | null = null;
  private settings: ExchangeSettings | null = null;
  private counters: AttemptCounters | null = null;
  private headers: OutgoingHttpHeaders | null = null;
  private method = 'GET';
  private clientKeepAlive = true;
  private clientHttp10 = false;
  private expectContinue = false;
  private hashKey: string | undefined = undefined;
  private deadline = INF;
  /** The deadline is the caller's, earlier than the policy's: its passing says nothing against the endpoint. */
  private callerDeadline = false;
  private tryDeadline = INF;
  private backoffAt = 0;
  private lastActivity = 0;
  private slotHeld = false;
  private readonly timer: DueTimer;

  // The request body, decoded from its HTTP/1.1 framing.
  private chunked = false;
  private reqRemaining = 0;
  private reqBodyDone = true;
  private hasBody = false;
  /** The request announced trailers: its streams wait for them after the body. */
  private sendsTrailers = false;
  /** The request's trailer section as received (field lines), when it announced trailers. */
  private trailerSection = '';
  /** Body parts not yet written to a stream, or (when `retaining`) every part, for a replay. */
  private readonly parts: Buffer[] = [];
  private partsBytes = 0;
  private retaining = false;
  /** A body byte went upstream and was not kept: the request cannot be sent again. */
  private bodyWritten = false;
  /**
   * The parts that went out on an already connected session, kept until the response starts so that a
   * stream lost with its session can be sent again even when the body is not buffered for retries.
   */
  private staleKeep = false;
  private streamNeedsDrain = false;
  private readPaused = false;

  // The attempt.
  private attempt = 0;
  private endpoint: UpstreamEndpoint | null = null;
  private session: H2Session | null = null;
  private stream: ClientHttp2Stream | null = null;
  private attemptStart = 0;
  /** The session was connected before the stream opened (so it may have gone stale). */
  private reusedSession = false;
  private staleRetried = false;

  // The response.
  /** Its head arrived and is the answer (no retry on its status). */
  private responded = false;
  /** Bytes of it were written to the client. */
  private sentToClient = false;
  private status = 0;
  private headLatency = 0;
  /** The wait for the upstream's reply, polled for where it is due soon. */
  private readonly replyWait: ReplyWait;
  private framing: BodyFraming = BodyFraming.None;
  private respRemaining = 0;
  /** The HTTP/1.1 head, held to go out with the first body bytes (or the end) in this loop turn. */
  private pendingHead: Buffer | null = null;
  private trailers: IncomingHttpHeaders | null = null;
  private closeAfter = false;
  private clientNeedsDrain = false;

  constructor(host: H2ExchangeHost, ctx: EngineContext, remoteAddress: string) {
    this.host = host;
    this.socket = host.socket;
    this.ctx = ctx;
    this.replyWait = new ReplyWait(ctx.replyPoller);
    this.clock = ctx.clock;
    this.timer = new DueTimer(ctx.clock, this.onTimer);
    this.remoteAddress = remoteAddress;
    this.heads = new H2RequestHeadWriter(remoteAddress, ctx.trustForwarded);
    this.socket.on('drain', this.onClientDrain);
  }

  /**
   * Takes over the exchange whose head was just parsed (`head`, resolved into `res`, with its effective
   * deadline) and the body bytes that came with it, buf[off..]; returns where the request ends in
   * `buf` (what follows is a pipelined request). May finish at once (an error answered).
   */
  start(
    head: RequestHead,
    res: Resolution,
    deadline: number,
    callerDeadline: boolean,
    counters: AttemptCounters | null,
    buf: Buffer,
    off: number,
  ): number {
    const cluster = res.cluster!;
    const settings = res.settings!;
    const now = this.clock.now();
    this.phase = X_QUEUED;
    this.cluster = cluster;
    this.settings = settings;
    this.counters = counters;
    this.method = head.method;
    this.clientKeepAlive = head.keepAlive;
    this.clientHttp10 = head.version === '1.0';
    this.expectContinue = head.expectContinue;
    this.deadline = deadline;
    this.callerDeadline = callerDeadline;
    this.tryDeadline = deadline;
    this.lastActivity = now;
    this.attempt = 0;
    this.staleRetried = false;
    this.endpoint = null;
    this.readPaused = this.socket.isPaused();
    const framing = head.framing;
    this.chunked = framing === 'chunked';
    this.reqRemaining = framing === 'content-length' ? head.contentLength : 0;
    this.reqBodyDone = framing === 'none' || (framing === 'content-length' && head.contentLength === 0);
    this.hasBody = !this.reqBodyDone;
    // A chunked request that announces trailers (Trailer) gets them sent on as HTTP/2 trailers.
    this.sendsTrailers = this.chunked && (head.kindMask & HeaderKind.Trailer) !== 0;
    this.trailerSection = '';
    if (this.chunked) this.decoderFor().reset();
    this.retaining =
      settings.retries && this.hasBody && (this.chunked || this.reqRemaining <= settings.bufferLimit);

    if (head.upgrade !== undefined) {
      // Bytes right behind the head may be the new protocol's: close rather than read them as a request.
      if (off < buf.length) this.clientKeepAlive = false;
      this.respondError(UPGRADE_NOT_SUPPORTED);
      return off;
    }
    this.headers = this.heads.write(head, res.target, res.host, cluster.name, deadline);
    if (this.host.observer !== null) this.host.observer.h2Headers(this.headers);
    this.hashKey = cluster.balancer.kind === 'ip-hash' ? this.hashKeyFor(head, cluster) : undefined;

    // Body bytes that came with the head are checked (framing) before anything goes upstream.
    if (!this.reqBodyDone && off < buf.length) {
      off = this.receive(buf, off);
      if (this.phase !== X_QUEUED) return off;
    }
    if (settings.retries) cluster.budget.recordRequest();
    const admission = cluster.admit(this);
    if (admission === 'start') {
      this.slotHeld = true;
      this.startAttempt(now);
    } else if (admission === 'queue') {
      this.syncReading();
      this.timer.arm(deadline);
    } else {
      this.respondError(cluster.errors.overflow);
    }
    return off;
  }

  /** Request body bytes buf[off..] from the client; returns where the request ends (or buf.length). */
  receive(buf: Buffer, off: number): number {
    if (this.reqBodyDone || this.phase === X_IDLE) return off;
    const len = buf.length;
    this.lastActivity = this.clock.now();
    if (!this.chunked) {
      const take = Math.min(len - off, this.reqRemaining);
      this.reqRemaining -= take;
      if (this.reqRemaining === 0) this.reqBodyDone = true;
      if (this.host.observer !== null) this.host.observer.bytesIn += take;
      if (take > 0) this.bodyPart(off === 0 && take === len ? buf : buf.subarray(off, off + take));
      if (this.reqBodyDone) this.bodyEnd();
      return off + take;
    }
    let consumed: number;
    let done: boolean;
    try {
      // The decoded data arrives through the decoder's onData (bodyPart).
      const progress = this.decoder!.consume(buf, off, len);
      consumed = progress.consumed;
      done = progress.done;
    } catch (error) {
      this.refuseBody(error);
      return len;
    }
    if (this.host.observer !== null) this.host.observer.bytesIn += consumed;
    if (done) {
      this.reqBodyDone = true;
      this.bodyEnd();
    }
    return off + consumed;
  }

  /**
   * The client went away or its connection is being cut: drops the exchange (no answer). Returns the
   * status sent to the client (0: none), for metrics.
   */
  abort(): number {
    const cluster = this.cluster;
    if (this.phase === X_IDLE || cluster === null) return 0;
    const status = this.sentToClient ? this.status : 0;
    if (this.phase === X_QUEUED && !this.slotHeld) cluster.cancelWaiter(this);
    if (this.stream !== null) {
      this.detachStream(NGHTTP2_CANCEL);
      if (this.endpoint !== null) cluster.recordCancel(this.endpoint, this.clock.now() - this.attemptStart);
    }
    const slot = this.slotHeld;
    this.reset();
    if (slot) cluster.release();
    return status;
  }

  /** ClusterWaiter: a concurrency slot was handed over. */
  onAdmitted(): void {
    if (this.phase !== X_QUEUED) {
      this.cluster?.release();
      return;
    }
    try {
      this.slotHeld = true;
      this.startAttempt(this.clock.now());
    } catch (error) {
      this.crash(error);
    }
  }

  /** ClusterWaiter: the queue shrank under us. */
  onRejected(): void {
    if (this.phase === X_QUEUED) this.respondError(this.cluster!.errors.overflow);
  }

  // --- the request ---

  private decoderFor(): ChunkedDecoder {
    this.decoder ??= new ChunkedDecoder({
      onData: (buf, start, end) => this.bodyPart(buf.subarray(start, end)),
      onTrailerBytes: (buf, start, end) => {
        if (this.sendsTrailers) this.trailerSection += buf.toString('latin1', start, end);
      },
    });
    return this.decoder;
  }

  private hashKeyFor(head: RequestHead, cluster: Cluster): string {
    const name = cluster.hashHeader;
    if (name !== undefined) {
      const index = findHeader(head, name);
      if (index >= 0) return head.headerValue(index);
    }
    return this.remoteAddress;
  }

  private bodyPart(part: Buffer): void {
    const size = part.length;
    if (size === 0) return;
    const stream = this.phase === X_UPSTREAM ? this.stream : null;
    if (this.retaining) {
      if (this.partsBytes + size <= this.settings!.bufferLimit) {
        this.parts.push(part);
        this.partsBytes += size;
        if (stream !== null && !stream.write(part)) this.upstreamBackpressure();
        return;
      }
      // Larger than the retry buffer: from here on the request cannot be sent again.
      this.retaining = false;
      // With a stream open every kept part went out on it.
      if (stream !== null) this.dropParts();
    }
    if (stream === null) {
      this.parts.push(part);
      this.partsBytes += size;
      return;
    }
    if (this.staleKeep) this.dropParts();
    this.bodyWritten = true;
    if (!stream.write(part)) this.upstreamBackpressure();
  }

  private bodyEnd(): void {
    if (this.phase === X_UPSTREAM && this.stream !== null) {
      this.stream.end();
      if (!this.responded) this.replyWait.begin(this.endpoint!);
    }
  }

  /** Forgets body parts that went upstream: the request can no longer be sent again. */
  private dropParts(): void {
    this.staleKeep = false;
    if (this.parts.length === 0) return;
    this.bodyWritten = true;
    this.parts.length = 0;
    this.partsBytes = 0;
  }

  /**
   * Whether bytes of the client's reads may still be referenced: body parts kept (for a retry, or not
   * yet sent), or written to the stream and not yet out (HTTP/2 sends them from the caller's memory).
   */
  holdsClientBytes(): boolean {
    return this.parts.length !== 0 || (this.stream !== null && this.stream.writableLength !== 0);
  }

  private canReplay(): boolean {
    return !this.bodyWritten;
  }

  /** Whether the whole body is kept for retries (or there is none): what the retry policy asks. */
  private bodyBuffered(): boolean {
    return !this.hasBody || this.retaining;
  }

  private upstreamBackpressure(): void {
    this.streamNeedsDrain = true;
    this.syncReading();
  }

  /** Reads the client's body only while a stream takes it; after the body the ClientConnection decides. */
  private syncReading(): void {
    if (this.reqBodyDone) return;
    const want = this.phase === X_UPSTREAM && !this.streamNeedsDrain;
    if (want) {
      if (this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
    } else if (!this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  // --- attempts ---

  private startAttempt(now: number): void {
    const cluster = this.cluster!;
    if (now >= this.deadline) {
      this.timeoutExchange(MESH_ERRORS.timeout);
      return;
    }
    const endpoint = cluster.pick(this.hashKey, this.endpoint ?? undefined);
    if (endpoint === undefined) {
      this.respondError(cluster.pickError);
      return;
    }
    this.attempt++;
    this.replyWait.end();
    this.endpoint = endpoint;
    cluster.balancer.onRequestStart(endpoint);
    this.attemptStart = now;
    const perTry = this.settings!.retry.perTryTimeoutMs;
    this.tryDeadline = attemptDeadline(now, this.deadline, perTry);
    this.timer.arm(upstreamDue(this.settings!.idleTimeoutMs, this.lastActivity, this.tryDeadline));
    this.open(cluster.h2Sessions(endpoint).acquire(false));
  }

  /** Opens the attempt's stream on `session` and sends what there is of the body. */
  private open(session: H2Session): void {
    this.session = session;
    this.reusedSession = session.connected;
    this.responded = false;
    this.status = 0;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(this.headers!, !this.hasBody, this.sendsTrailers);
    } catch (error) {
      // Node refused the headers (a field HTTP/2 cannot carry): nothing went upstream.
      this.cluster!.recordCancel(this.endpoint!, 0);
      this.refuseHeaders(error);
      return;
    }
    this.stream = stream;
    this.phase = X_UPSTREAM;
    stream.on('response', this.onResponse);
    stream.on('headers', this.onInterim);
    stream.on('continue', this.onContinue);
    stream.on('data', this.onData);
    stream.on('trailers', this.onTrailers);
    stream.on('end', this.onEnd);
    stream.on('drain', this.onStreamDrain);
    stream.on('error', ignore);
    stream.on('close', this.onStreamClose);
    if (this.sendsTrailers) stream.on('wantTrailers', this.onWantTrailers);
    if (this.hasBody) {
      const parts = this.parts;
      let ok = true;
      for (let i = 0; i < parts.length; i++) ok = stream.write(parts[i]);
      if (!this.retaining) {
        if (this.reusedSession && isIdempotent(this.method) && parts.length !== 0) this.staleKeep = true;
        else this.dropParts();
      }
      if (this.reqBodyDone) stream.end();
      this.streamNeedsDrain = !ok;
      this.syncReading();
    }
    if (this.reqBodyDone) this.replyWait.begin(this.endpoint!);
  }

  /** Stops listening to the attempt's stream and resets it (unless it is over). */
  private detachStream(code: number): void {
    const stream = this.stream;
    if (stream === null) return;
    this.stream = null;
    stream.off('response', this.onResponse);
    stream.off('headers', this.onInterim);
    stream.off('continue', this.onContinue);
    stream.off('data', this.onData);
    stream.off('trailers', this.onTrailers);
    stream.off('end', this.onEnd);
    stream.off('drain', this.onStreamDrain);
    stream.off('close', this.onStreamClose);
    stream.off('wantTrailers', this.onWantTrailers);
    // Body bytes it has not sent yet may still go out after the reset: their buffer stays theirs.
    if (stream.writableLength !== 0) this.host.keepClientReadBuffer();
    if (code !== 0 && !stream.closed && !stream.destroyed) stream.close(code);
    this.streamNeedsDrain = false;
  }

  private readonly onStreamDrain = (): void => {
    if (!this.streamNeedsDrain) return;
    this.streamNeedsDrain = false;
    this.syncReading();
  };

  // --- the response ---

  private readonly onContinue = (): void => {
    if (this.expectContinue && !this.sentToClient) this.socket.write(CONTINUE_100);
  };

  /** A 1xx other than 100 (e.g. 103 Early Hints): to HTTP/1.1 clients. */
  private readonly onInterim = (
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader,
    _flags: number,
    rawHeaders?: string[],
  ): void => {
    // Upstream traffic for the idle timeout, as any byte from an HTTP/1.1 upstream is.
    this.lastActivity = this.clock.now();
    const status = Number(headers[':status']);
    if (status < 101 || status > 199 || this.clientHttp10 || this.sentToClient) return;
    this.socket.write(h1InterimHead(status, rawHeaders ?? rawHeadersOf(headers)));
  };

  private readonly onResponse = (
    headers: IncomingHttpHeaders & IncomingHttpStatusHeader,
    _flags: number,
    rawHeaders?: string[],
  ): void => {
    try {
      this.response(headers, rawHeaders);
    } catch (error) {
      this.crash(error);
    }
  };

  private response(headers: IncomingHttpHeaders & IncomingHttpStatusHeader, rawHeaders?: string[]): void {
    const now = this.clock.now();
    this.lastActivity = now;
    const status = Number(headers[':status']);
    this.status = status;
    this.headLatency = now - this.attemptStart;
    this.replyWait.end(this.headLatency);
    if (this.staleKeep) this.dropParts();
    if (this.retryOnStatus()) return;
    if (this.host.observer !== null)
      this.host.observer.attempt(this.endpoint!, status >= 500 ? 'status' : 'ok', status);
    this.responded = true;
    // The per-try timeout covers the wait for the head; from here only the request timeout applies.
    this.tryDeadline = this.deadline;
    const length = headers['content-length'];
    let framing: BodyFraming;
    if (this.method === 'HEAD' || status === 204 || status === 304) framing = BodyFraming.None;
    else if (length !== undefined) {
      framing = BodyFraming.Length;
      this.respRemaining = Number(length);
    } else framing = this.clientHttp10 ? BodyFraming.Close : BodyFraming.Chunked;
    this.framing = framing;
    this.trailers = null;
    this.closeAfter = !this.canKeepAlive() || framing === BodyFraming.Close;
    // Held to go out with the first body bytes in one write; on its own once this turn of the event
    // loop brought none (a stream that answers its head first, as server-sent events do).
    this.pendingHead = h1ResponseHead(status, rawHeaders ?? rawHeadersOf(headers), framing, this.closeAfter);
    setImmediate(this.flushHead);
  }

  private readonly flushHead = (): void => {
    const head = this.pendingHead;
    if (head === null) return;
    this.pendingHead = null;
    this.sentToClient = true;
    this.socket.write(head);
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.responseData(chunk);
    } catch (error) {
      this.crash(error);
    }
  };

  private responseData(chunk: Buffer): void {
    if (!this.responded) return;
    this.lastActivity = this.clock.now();
    const framing = this.framing;
    if (framing === BodyFraming.None) return;
    if (framing === BodyFraming.Length) {
      if (chunk.length > this.respRemaining) {
        // More than its content-length: nothing correct can follow.
        this.failAfterResponse();
        return;
      }
      this.respRemaining -= chunk.length;
    }
    const socket = this.socket;
    const head = this.pendingHead;
    let ok: boolean;
    if (head === null && framing !== BodyFraming.Chunked) {
      ok = socket.write(chunk);
    } else {
      socket.cork();
      if (head !== null) {
        this.pendingHead = null;
        this.sentToClient = true;
        socket.write(head);
      }
      if (framing === BodyFraming.Chunked) {
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        socket.write(CRLF);
      } else {
        socket.write(chunk);
      }
      socket.uncork();
      ok = !socket.writableNeedDrain;
    }
    if (!ok) {
      this.clientNeedsDrain = true;
      this.stream?.pause();
    }
  }

  /** The request body went out on a stream that waits for trailers: the request's, or none. */
  private readonly onWantTrailers = (): void => {
    const stream = this.stream;
    if (stream === null) return;
    try {
      stream.sendTrailers(h2Trailers(this.trailerSection));
    } catch {
      // A field node will not send: the stream still ends, without trailers.
      stream.sendTrailers({});
    }
  };

  private readonly onTrailers = (trailers: IncomingHttpHeaders): void => {
    this.trailers = trailers;
  };

  private readonly onEnd = (): void => {
    try {
      this.responseEnd();
    } catch (error) {
      this.crash(error);
    }
  };

  private responseEnd(): void {
    if (!this.responded) return;
    if (this.framing === BodyFraming.Length && this.respRemaining > 0) {
      this.failAfterResponse();
      return;
    }
    const socket = this.socket;
    const head = this.pendingHead;
    const last =
      this.framing === BodyFraming.Chunked ? h1LastChunk(this.clientHttp10 ? null : this.trailers) : null;
    if (head !== null) {
      this.pendingHead = null;
      this.sentToClient = true;
      socket.write(last === null ? head : Buffer.concat([head, last]));
    } else if (last !== null) {
      socket.write(last);
    }
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.status >= 500) cluster.recordFailure(endpoint, this.headLatency);
    else cluster.recordSuccess(endpoint, this.headLatency);
    // The request's own end went out (or will: node ends the stream); an unfinished body is cut.
    this.detachStream(this.reqBodyDone ? 0 : NGHTTP2_CANCEL);
    this.endExchange(this.status, null);
  }

  private readonly onClientDrain = (): void => {
    if (!this.clientNeedsDrain) return;
    this.clientNeedsDrain = false;
    this.stream?.resume();
  };

  // --- failures, retries, timeouts ---

  private readonly onStreamClose = (): void => {
    try {
      this.streamClosed();
    } catch (error) {
      this.crash(error);
    }
  };

  /**
   * The stream closed before its response ended: reset (REFUSED_STREAM among others: a reset to the
   * retry policy), or lost with its session.
   */
  private streamClosed(): void {
    const session = this.session!;
    const lost = session.retired || session.session.destroyed || session.session.closed;
    this.attemptFailed(session.connected ? 'reset' : 'connect-failure', lost);
  }

  /**
   * The attempt ended without a (complete) response. `lost`: the stream went with its session (a
   * GOAWAY that did not cover it, or the connection's close).
   */
  private attemptFailed(kind: 'connect-failure' | 'reset' | 'timeout', lost: boolean): void {
    const counters = this.counters;
    if (kind === 'connect-failure' && counters !== null) counters.connectErrors++;
    this.detachStream(NGHTTP2_CANCEL);
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.sentToClient) {
      // Part of the response is out: all the client can learn is that it was cut short.
      cluster.recordFailure(endpoint, this.clock.now() - this.attemptStart);
      if (this.host.observer !== null) this.host.observer.attempt(endpoint, kind, this.status);
      this.cutClient();
      return;
    }
    // A session that was open before the stream went away under it (the upstream closed it while we
    // sent): an idempotent request goes again on a new session, once, outside the retry policy (as the
    // HTTP/1.1 path does for a stale pooled connection); any other may have been acted on, and only
    // the retry policy may send it again.
    if (
      kind === 'reset' &&
      lost &&
      isIdempotent(this.method) &&
      this.reusedSession &&
      !this.responded &&
      !this.staleRetried &&
      this.canReplay()
    ) {
      this.staleRetried = true;
      this.staleKeep = false;
      this.open(cluster.h2Sessions(endpoint).acquire(true));
      return;
    }
    cluster.recordFailure(endpoint, this.clock.now() - this.attemptStart);
    if (this.host.observer !== null) this.host.observer.attempt(endpoint, kind, 0);
    if (!this.responded && this.mayRetry(kind)) {
      this.scheduleRetry();
      return;
    }
    this.respondError(
      kind === 'connect-failure'
        ? MESH_ERRORS.connectFailed
        : kind === 'timeout'
          ? MESH_ERRORS.timeout
          : MESH_ERRORS.reset,
    );
  }

  /** The response broke its own framing after it was accepted: the client connection is cut. */
  private failAfterResponse(): void {
    const cluster = this.cluster!;
    cluster.recordFailure(this.endpoint!, this.clock.now() - this.attemptStart);
    if (this.host.observer !== null) this.host.observer.attempt(this.endpoint!, 'reset', this.status);
    this.detachStream(NGHTTP2_CANCEL);
    if (!this.sentToClient) {
      this.pendingHead = null;
      this.respondError(MESH_ERRORS.reset);
      return;
    }
    this.cutClient();
  }

  /** Retries a response with a retriable status instead of forwarding it, when the policy allows. */
  private retryOnStatus(): boolean {
    const settings = this.settings!;
    if (!settings.retries || this.attempt >= settings.retry.maxAttempts) return false;
    if (!this.mayRetry(this.status)) return false;
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.status >= 500) cluster.recordFailure(endpoint, this.headLatency);
    else cluster.recordSuccess(endpoint, this.headLatency);
    this.detachStream(NGHTTP2_CANCEL);
    if (this.host.observer !== null) this.host.observer.attempt(endpoint, 'status', this.status);
    this.scheduleRetry();
    return true;
  }

  /**
   * Whether to try again after `outcome`: the policy's conditions, a request that can be sent again,
   * the retry budget and the deadline must all allow it. Sets `backoffAt` when it does.
   */
  private mayRetry(outcome: AttemptOutcome): boolean {
    const at = retryAt(
      this.settings!,
      this.attempt,
      this.method,
      this.canReplay(),
      this.bodyBuffered(),
      this.deadline,
      outcome,
      this.clock,
      this.ctx.random,
      this.cluster!.budget,
      this.counters,
    );
    if (at < 0) return false;
    this.backoffAt = at;
    return true;
  }

  private scheduleRetry(): void {
    if (this.counters !== null) this.counters.retries++;
    this.phase = X_BACKOFF;
    this.responded = false;
    this.syncReading();
    if (this.backoffAt <= this.clock.now()) {
      this.startAttempt(this.clock.now());
      return;
    }
    this.timer.arm(Math.min(this.backoffAt, this.deadline));
  }

  /** The request deadline or the idle timeout passed. */
  private timeoutExchange(response: CannedResponse): void {
    const cluster = this.cluster!;
    if (this.phase === X_QUEUED && !this.slotHeld) cluster.cancelWaiter(this);
    if (this.stream !== null) {
      this.detachStream(NGHTTP2_CANCEL);
      if (this.endpoint !== null) {
        const latency = this.clock.now() - this.attemptStart;
        if (this.callerDeadline && response === MESH_ERRORS.timeout)
          cluster.recordCancel(this.endpoint, latency);
        else cluster.recordFailure(this.endpoint, latency);
        if (this.host.observer !== null) this.host.observer.attempt(this.endpoint, 'timeout', this.status);
      }
    }
    if (this.sentToClient) {
      this.cutClient();
      return;
    }
    this.respondError(response);
  }

  /** The request body broke the framing rules: 400, and the connection closes. */
  private refuseBody(error: unknown): void {
    const cluster = this.cluster!;
    if (this.stream !== null) {
      this.detachStream(NGHTTP2_CANCEL);
      if (this.endpoint !== null) cluster.recordCancel(this.endpoint, this.clock.now() - this.attemptStart);
    }
    if (this.phase === X_QUEUED && !this.slotHeld) cluster.cancelWaiter(this);
    if (this.sentToClient) {
      this.cutClient();
      return;
    }
    const status = isHttpParseError(error) ? error.status : 400;
    this.socket.write(
      isHttpParseError(error)
        ? parseErrorResponse(error)
        : errorResponse(400, 'BAD_REQUEST', 'the request could not be read'),
    );
    this.closeAfter = true;
    this.endExchange(status, 'BAD_REQUEST');
  }

  /** Node would not send the request's fields over HTTP/2: 400, and the connection closes. */
  private refuseHeaders(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.socket.write(
      errorResponse(400, 'BAD_REQUEST', 'the request cannot be sent over HTTP/2', [{ message }]),
    );
    this.closeAfter = true;
    this.endExchange(400, 'BAD_REQUEST');
  }

  /** Answers the exchange with a mesh error (nothing of a response was sent yet). */
  private respondError(response: CannedResponse): void {
    const keep = this.canKeepAlive();
    this.socket.write(keep ? response.keepAlive : response.close);
    if (!keep) this.closeAfter = true;
    this.endExchange(response.status, response.code);
  }

  private canKeepAlive(): boolean {
    return this.clientKeepAlive && this.reqBodyDone && !this.ctx.draining;
  }

  /**
   * The response was cut after part of it went out: the client connection is destroyed, and its close
   * ends the exchange (ClientConnection → `abort`).
   */
  private cutClient(): void {
    this.timer.clear();
    this.socket.destroy();
  }

  /** A bug surfaced as an exception: the client connection goes (its close aborts the exchange). */
  private crash(error: unknown): void {
    this.ctx.logger.error({ err: error }, 'proxy: h2 exchange failed');
    try {
      this.detachStream(NGHTTP2_CANCEL);
    } finally {
      this.cutClient();
    }
  }

  /** Ends the exchange (its response or an error is out) and hands the connection back. */
  private endExchange(status: number, code: string | null): void {
    const cluster = this.cluster;
    const slot = this.slotHeld;
    const close = this.closeAfter || !this.reqBodyDone;
    this.reset();
    this.host.h2Done(close, status, code);
    if (slot && cluster !== null) cluster.release();
  }

  private reset(): void {
    this.timer.clear();
    this.detachStream(NGHTTP2_CANCEL);
    this.phase = X_IDLE;
    this.slotHeld = false;
    this.cluster = null;
    this.settings = null;
    this.counters = null;
    this.headers = null;
    this.endpoint = null;
    this.session = null;
    if (this.parts.length !== 0) this.parts.length = 0;
    this.partsBytes = 0;
    this.bodyWritten = false;
    this.staleKeep = false;
    this.retaining = false;
    this.streamNeedsDrain = false;
    this.responded = false;
    this.sentToClient = false;
    this.pendingHead = null;
    this.trailers = null;
    this.closeAfter = false;
    this.clientNeedsDrain = false;
  }

  // --- timers ---

  private readonly onTimer = (): void => {
    try {
      this.timerFired();
    } catch (error) {
      this.crash(error);
    }
  };

  private timerFired(): void {
    const now = this.clock.now();
    switch (this.phase) {
      case X_QUEUED:
        if (now >= this.deadline) this.timeoutExchange(MESH_ERRORS.timeout);
        else this.timer.arm(this.deadline);
        return;
      case X_BACKOFF:
        if (now >= this.deadline) this.timeoutExchange(MESH_ERRORS.timeout);
        else if (now >= this.backoffAt) this.startAttempt(now);
        else this.timer.arm(Math.min(this.backoffAt, this.deadline));
        return;
      case X_UPSTREAM: {
        if (now >= this.deadline) {
          this.timeoutExchange(MESH_ERRORS.timeout);
          return;
        }
        if (now >= this.tryDeadline) {
          this.attemptFailed('timeout', false);
          return;
        }
        const idle = this.settings!.idleTimeoutMs;
        if (idle > 0 && now - this.lastActivity >= idle) {
          this.timeoutExchange(MESH_ERRORS.idleTimeout);
          return;
        }
        this.timer.arm(upstreamDue(this.settings!.idleTimeoutMs, this.lastActivity, this.tryDeadline));
        return;
      }
      default:
    }
  }
}

function ignore(): void {}
