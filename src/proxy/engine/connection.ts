import type { Socket } from 'node:net';
import {
  type AttemptOutcome,
  type Clock,
  DEADLINE_HEADER,
  isIdempotent,
  parseDeadline,
} from '../../core/index.ts';
import type { RouteStatsHolder } from '../../telemetry/proxy-stats.ts';
import { methodIndex, type RequestStats } from '../../telemetry/request-stats.ts';
import { type CannedResponse, MESH_ERRORS } from '../error-responses.ts';
import {
  ChunkedDecoder,
  errorResponse,
  findHeader,
  HeaderKind,
  isHttpParseError,
  parseErrorResponse,
  RESPONSE_HOP_BY_HOP,
  RequestParser,
  ResponseParser,
  writeResponseHead,
} from '../http1/index.ts';
import {
  type Cluster,
  type ClusterWaiter,
  type ExchangeSettings,
  ReadTarget,
  type UpstreamConnection,
  type UpstreamEndpoint,
  type UpstreamOwner,
} from '../upstream/index.ts';
import type { EngineContext, Resolution } from './context.ts';
import { attemptDeadline, DueTimer, upstreamDue } from './due-timer.ts';
import {
  CONTINUE_100,
  ForwardHeadWriter,
  RESPONSE_CLOSE,
  RESPONSE_CLOSE_DECHUNKED,
  RESPONSE_KEEP_ALIVE,
} from './forward-head.ts';
import { H2Exchange } from './h2-exchange.ts';
import { ReplyWait } from './reply-poller.ts';
import { retryAt } from './retry-gate.ts';
import { readIntoBuffers } from './socket-reads.ts';
import { ExchangeObserver } from './trace-hooks.ts';

// Connection states. An exchange runs from S_QUEUED to the end of the response.
/** Reading a request head, or idle between requests. */
const S_HEAD = 0;
/** A head was read; waiting for a concurrency slot (or not admitted yet). */
const S_QUEUED = 1;
/** Waiting for a new upstream connection. */
const S_CONNECTING = 2;
/** Waiting out the back-off before a retry. */
const S_BACKOFF = 3;
/** The request is (being) sent upstream; the response is awaited or streamed back. */
const S_UPSTREAM = 4;
/** After a 101: bytes are piped both ways. */
const S_TUNNEL = 5;
/** The response is out and the connection is closing: input is read and dropped. */
const S_CLOSING = 6;
const S_CLOSED = 7;
/** The exchange went to an h2c cluster: the H2Exchange runs it and hands the connection back. */
const S_H2 = 8;

const F_NONE = 0;
const F_LENGTH = 1;
const F_CHUNKED = 2;
const F_CLOSE = 3;

/** Bodies up to this size go out in the same write as their head (one buffer, one syscall). */
const COALESCE_BYTES = 16 * 1024;
/** After the last response, how long a closing connection waits for the client to close. */
const LINGER_MS = 2_000;
/** A closing connection whose client does not read its last response is cut after this long. */
const MAX_CLOSING_MS = 30_000;
const INF = Number.POSITIVE_INFINITY;

const METHOD_NOT_ALLOWED = errorResponse(405, 'METHOD_NOT_ALLOWED', 'CONNECT is not supported by this proxy');

/**
 * One client connection and the exchange in progress on it: the proxy's hot path.
 *
 * Requests are read one at a time (a pipelined request waits, unread, for the response before it);
 * each is resolved to a cluster by the listener, admitted by the cluster's concurrency limiter, sent
 * to an endpoint over a pooled connection with its head edited and its body streamed as raw bytes,
 * and its response streamed back. Backpressure pauses the sending side until the other drains.
 * Retries (on another endpoint where possible) happen only while nothing of the response has reached
 * the client. All per-exchange state lives in this object's fields and the parsers are reused, so a
 * keep-alive exchange allocates little beyond the two heads it writes.
 */
export class ClientConnection implements UpstreamOwner, ClusterWaiter {
  readonly socket: Socket;
  private readonly ctx: EngineContext;
  private readonly clock: Clock;
  private readonly parser = new RequestParser();
  private respParser = new ResponseParser();
  private readonly reqChunks = new ChunkedDecoder();
  private readonly respChunks = new ChunkedDecoder({ errorStatus: 502 });
  private dechunker: ChunkedDecoder | null = null;
  private readonly heads: ForwardHeadWriter;
  private readonly resolution: Resolution = {
    cluster: null,
    settings: null,
    error: null,
    target: undefined,
    host: undefined,
    route: null,
  };
  private readonly remoteAddress: string;
  /** What the socket reads into (null: it reads through 'data' events, see `readIntoBuffers`). */
  private readonly reads: ReadTarget | null;
  /** Runs the exchanges with h2c clusters (made for the first one). */
  private h2: H2Exchange | null = null;
  /** Tracing and the access log of the exchanges (null: both off); read by the H2Exchange too. */
  readonly observer: ExchangeObserver | null;

  private state = S_HEAD;
  /** Input read but not yet processed (a pipelined request waiting for the current response). */
  private stash: Buffer | null = null;
  private readPaused = false;
  private inFeed = false;
  /** Close the client connection once the current response is out. */
  private closeAfter = false;
  private clientEnded = false;
  private idleSince: number;
  private readonly timer: DueTimer;
  /** When the connection started closing, and when its last write had gone out (0: not yet). */
  private closingSince = 0;
  private flushedAt = 0;

  // The exchange.
  private cluster: Cluster | null = null;
  private settings: ExchangeSettings | null = null;
  private slotHeld = false;
  private method = 'GET';
  private clientKeepAlive = true;
  private clientHttp10 = false;
  private upgrading = false;
  /** In a tunnel: the upstream sent its FIN (the client's side was ended after what came before it). */
  private upstreamEnded = false;
  private expectContinue = false;
  private upstreamHead: Buffer = Buffer.alloc(0);
  private hashKey: string | undefined = undefined;
  private deadline = INF;
  private tryDeadline = INF;
  /**
   * The deadline is the caller's (`x-trellis-deadline`, earlier than the policy's timeout): when it
   * passes, the endpoint was not given the time its policy grants, so that says nothing against it.
   */
  private callerDeadline = false;
  private backoffAt = 0;
  private lastActivity = 0;
  /** Metrics: where the exchange is recorded (null: metrics off, or recorded already), and its start. */
  private stats: RequestStats | null = null;
  private methodIndex = 0;
  private startedAt = 0;

  // The request body: tracked as it arrives, forwarded raw.
  private reqFraming = F_NONE;
  private reqRemaining = 0;
  private reqBodyDone = true;
  /** Body parts not yet written upstream, or (when `retaining`) every part, for a replay. */
  private readonly parts: Buffer[] = [];
  private partsSent = 0;
  private partsBytes = 0;
  private retaining = false;
  /** A body byte was written upstream and not kept: the request cannot be sent again. */
  private bodyWritten = false;
  /**
   * The parts of an idempotent request that went out with the head on a reused connection, kept until
   * the response starts so that a stale connection can be retried even when the body is not buffered
   * for retries.
   */
  private staleKeep = false;
  /** The request has a body (framing other than none, and not a zero Content-Length). */
  private hasBody = false;

  // The attempt.
  private attempt = 0;
  private endpoint: UpstreamEndpoint | null = null;
  private upstream: UpstreamConnection | null = null;
  private attemptStart = 0;
  private upstreamNeedsDrain = false;
  private clientNeedsDrain = false;
  private responseStarted = false;
  private staleRetried = false;

  // The response.
  private respHeadDone = false;
  private sentToClient = false;
  private status = 0;
  private respFraming = F_NONE;
  private respRemaining = 0;
  private headLatency = 0;
  /** The wait for the upstream's reply, polled for where it is due soon. */
  private readonly replyWait: ReplyWait;

  constructor(socket: Socket, ctx: EngineContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.replyWait = new ReplyWait(ctx.replyPoller);
    this.clock = ctx.clock;
    this.timer = new DueTimer(ctx.clock, this.onTimer);
    this.remoteAddress = normalizeAddress(socket.remoteAddress);
    this.heads = new ForwardHeadWriter(this.remoteAddress, ctx.trustForwarded);
    this.observer =
      ctx.telemetry === null ? null : new ExchangeObserver(ctx.telemetry, socket, this.remoteAddress);
    this.idleSince = this.clock.now();
    const reads = new ReadTarget(ctx.readBuffers);
    if (readIntoBuffers(socket, reads.next, this.onClientRead)) {
      this.reads = reads;
    } else {
      reads.release();
      this.reads = null;
      socket.on('data', this.onClientData);
    }
    socket.on('drain', this.onClientDrain);
    socket.on('end', this.onClientEnd);
    socket.on('error', this.onClientError);
    socket.on('close', this.onClientClose);
    this.timer.arm(this.idleSince + ctx.clientIdleTimeoutMs);
  }

  /** The listener is closing: finish the exchange in progress, then close; close now if idle. */
  drain(): void {
    this.closeAfter = true;
    if (this.state === S_HEAD) this.closeClient();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- client input ---

  /**
   * `length` bytes were read into `buffer` (the connection's read buffer), which the next read
   * overwrites unless something still points into it: a stash, body parts kept for a retry or not
   * yet sent, a write that did not go out at once (`noteClientBytesWritten`), an h2 exchange.
   */
  private readonly onClientRead = (length: number, buffer: Buffer): boolean => {
    this.onClientData(buffer.subarray(0, length));
    if (this.holdsReadBuffer()) this.reads!.keep();
    return true;
  };

  /** Whether input kept by the exchange (a stash, body parts, an h2 exchange's) may view the read buffer. */
  private holdsReadBuffer(): boolean {
    return this.stash !== null || this.parts.length !== 0 || this.h2?.holdsClientBytes() === true;
  }

  /** H2ExchangeHost: bytes of the last read are still referenced (a reset stream may yet send them). */
  keepClientReadBuffer(): void {
    this.reads?.keep();
  }

  /** Client bytes were written to `socket`: what it could not send at once still points into them. */
  private noteClientBytesWritten(socket: Socket): void {
    if (socket.writableLength > 0) this.reads?.keep();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    try {
      this.clientData(chunk);
    } catch (error) {
      this.crash(error);
    }
  };

  private clientData(chunk: Buffer): void {
    const state = this.state;
    if (state === S_TUNNEL) {
      this.tunnelToUpstream(chunk);
      return;
    }
    if (state >= S_CLOSING && state !== S_H2) return;
    if (state !== S_HEAD) this.lastActivity = this.clock.now();
    if (this.stash !== null) {
      this.stash = Buffer.concat([this.stash, chunk]);
      this.syncReading();
      return;
    }
    this.feed(chunk, 0);
  }

  /** A bug surfaced as an exception: the connection goes, the process stays. */
  private crash(error: unknown): void {
    this.ctx.logger.error({ err: error }, 'proxy: connection failed');
    try {
      this.abortExchange();
    } finally {
      this.socket.destroy();
    }
  }

  private feed(buf: Buffer, start: number): void {
    this.inFeed = true;
    try {
      this.feedLoop(buf, start);
    } finally {
      this.inFeed = false;
    }
    this.syncReading();
  }

  private feedLoop(buf: Buffer, start: number): void {
    let off = start;
    const len = buf.length;
    while (off < len) {
      const state = this.state;
      if (state === S_HEAD) {
        if (this.closeAfter) return;
        let end: number;
        try {
          end = this.parser.execute(buf, off);
        } catch (error) {
          this.refuseRequest(error);
          return;
        }
        if (end < 0) return;
        off = this.beginExchange(buf, end);
      } else if (state >= S_CLOSING) {
        if (state !== S_H2) return;
        // The H2Exchange takes the request body; what follows it is a pipelined request.
        const end = this.h2!.receive(buf, off);
        if (end === off && this.state === S_H2) {
          const rest = off === 0 ? buf : buf.subarray(off);
          this.stash = this.stash === null ? rest : Buffer.concat([this.stash, rest]);
          return;
        }
        off = end;
      } else if (state === S_TUNNEL) {
        this.tunnelToUpstream(off === 0 ? buf : buf.subarray(off));
        return;
      } else if (!this.reqBodyDone) {
        off = this.receiveBody(buf, off);
      } else {
        // A pipelined request: it waits for the current response.
        const rest = off === 0 ? buf : buf.subarray(off);
        this.stash = this.stash === null ? rest : Buffer.concat([this.stash, rest]);
        return;
      }
    }
  }

  /** Reads the client socket only when its bytes have somewhere to go. */
  private syncReading(): void {
    let want: boolean;
    if (this.stash !== null) want = false;
    else {
      switch (this.state) {
        case S_HEAD:
        case S_CLOSING:
          want = true;
          break;
        case S_UPSTREAM:
          want = this.reqBodyDone || !this.upstreamNeedsDrain;
          break;
        case S_TUNNEL:
          want = !this.upstreamNeedsDrain;
          break;
        case S_CLOSED:
        case S_H2:
          // (S_H2: the H2Exchange reads the request body as it needs it.)
          return;
        default:
          // Queued, connecting or backing off: body bytes wait in the socket.
          want = this.reqBodyDone;
      }
    }
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

  /** Processes input held back during the previous exchange, then reads on. */
  private resumeInput(): void {
    const stash = this.stash;
    if (stash !== null) {
      this.stash = null;
      this.feed(stash, 0);
    } else {
      this.syncReading();
    }
  }

  // --- the exchange ---

  /** A request head was parsed and ends at `off` in `buf`; returns where reading continues. */
  private beginExchange(buf: Buffer, off: number): number {
    const head = this.parser;
    const ctx = this.ctx;
    const now = this.clock.now();
    this.lastActivity = now;
    const metrics = ctx.metrics;
    if (metrics !== null) {
      this.startedAt = now;
      this.methodIndex = methodIndex(head.method);
    }
    const observer = this.observer;
    if (observer !== null) observer.begin(head);
    this.method = head.method;
    this.clientKeepAlive = head.keepAlive;
    this.clientHttp10 = head.version === '1.0';
    this.expectContinue = head.expectContinue;
    this.upgrading = head.upgrade !== undefined;
    this.upstreamEnded = false;
    const framing = head.framing;
    // Bytes right behind an upgrade request's head may be the new protocol's (a client that did not
    // wait for the 101): if the upgrade is refused, the connection closes rather than read them.
    if (this.upgrading && framing === 'none' && off < buf.length) this.clientKeepAlive = false;
    if (framing === 'none') {
      this.reqFraming = F_NONE;
      this.reqBodyDone = true;
    } else if (framing === 'chunked') {
      this.reqFraming = F_CHUNKED;
      this.reqChunks.reset();
      this.reqBodyDone = false;
    } else {
      this.reqFraming = F_LENGTH;
      this.reqRemaining = head.contentLength;
      this.reqBodyDone = head.contentLength === 0;
    }
    if (this.method === 'CONNECT') {
      this.countUnrouted();
      return this.rejectEarly(405, 'METHOD_NOT_ALLOWED', METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED, true, off);
    }

    const res = this.resolution;
    res.cluster = null;
    res.settings = null;
    res.error = null;
    res.target = undefined;
    res.host = undefined;
    res.route = null;
    ctx.resolve(head, res);
    // (The resolver wrote the fields; TypeScript still sees the nulls assigned above.)
    const error = res.error as CannedResponse | null;
    if (error !== null) {
      this.countUnrouted();
      return this.rejectEarly(error.status, error.code, error.keepAlive, error.close, false, off);
    }
    const cluster = res.cluster!;
    const settings = res.settings!;
    if (metrics !== null) this.stats = metrics.statsOf(cluster, res.route);
    if (observer !== null) {
      const route = res.route as RouteStatsHolder | null;
      observer.routed(cluster, route?.routeName, route?.httpRoute);
    }

    let deadline = settings.requestTimeoutMs > 0 ? now + settings.requestTimeoutMs : INF;
    let callerDeadline = false;
    const deadlineIndex = findHeader(head, DEADLINE_HEADER);
    if (deadlineIndex >= 0) {
      const incoming = parseDeadline(head.headerValue(deadlineIndex));
      if (incoming !== undefined && incoming < deadline) {
        deadline = incoming;
        callerDeadline = true;
      }
    }
    if (deadline <= now) {
      const timeout = MESH_ERRORS.timeout;
      return this.rejectEarly(timeout.status, timeout.code, timeout.keepAlive, timeout.close, false, off);
    }

    if (cluster.h2c) return this.startH2(deadline, callerDeadline, buf, off);

    this.cluster = cluster;
    this.settings = settings;
    this.deadline = deadline;
    this.callerDeadline = callerDeadline;
    this.tryDeadline = deadline;
    this.hashKey = cluster.balancer.kind === 'ip-hash' ? this.hashKeyFor(cluster) : undefined;
    // HTTP/1.0 may leave Host out; HTTP/1.1 upstreams need one.
    const host = res.host ?? (head.host === undefined ? cluster.name : undefined);
    this.upstreamHead = this.heads.write(
      head,
      res.target,
      host,
      this.upgrading,
      deadline,
      deadlineIndex >= 0,
      observer === null ? null : observer.trace,
    );

    this.hasBody = !this.reqBodyDone;
    this.retaining =
      settings.retries &&
      !this.reqBodyDone &&
      (this.reqFraming === F_CHUNKED || this.reqRemaining <= settings.bufferLimit);
    this.attempt = 0;
    this.staleRetried = false;
    this.sentToClient = false;
    this.endpoint = null;

    // Body bytes that came with the head are checked (framing) before anything goes upstream.
    this.state = S_QUEUED;
    if (!this.reqBodyDone && off < buf.length) {
      off = this.receiveBody(buf, off);
      if (this.state !== S_QUEUED) return buf.length;
    }

    if (settings.retries) cluster.budget.recordRequest();
    const admission = cluster.admit(this);
    if (admission === 'start') {
      this.slotHeld = true;
      this.startAttempt(now);
    } else if (admission === 'queue') {
      this.timer.arm(deadline);
    } else {
      this.respondError(cluster.errors.overflow);
    }
    return off;
  }

  /** Hands the exchange to the H2Exchange (an h2c cluster); returns where the request ends in `buf`. */
  private startH2(deadline: number, callerDeadline: boolean, buf: Buffer, off: number): number {
    this.state = S_H2;
    this.h2 ??= new H2Exchange(this, this.ctx, this.remoteAddress);
    return this.h2.start(this.parser, this.resolution, deadline, callerDeadline, this.stats, buf, off);
  }

  /** H2ExchangeHost: the h2 exchange is over (its response or error is out); reading goes on. */
  h2Done(close: boolean, status: number, code: string | null): void {
    this.record(status, code);
    this.state = S_HEAD;
    this.idleSince = this.clock.now();
    // The H2Exchange paused and resumed the socket as the request body needed.
    this.readPaused = this.socket.isPaused();
    if (close || this.closeAfter) {
      this.closeClient();
      return;
    }
    this.timer.arm(this.idleSince + this.ctx.clientIdleTimeoutMs);
    if (!this.inFeed) this.resumeInput();
  }

  /** Answers a request that never reached a cluster (no slot was taken) with the mesh error `code`. */
  private rejectEarly(
    status: number,
    code: string,
    keepAlive: Buffer,
    close: Buffer,
    forceClose: boolean,
    off: number,
  ): number {
    const keep = !forceClose && this.canKeepAlive();
    this.socket.write(keep ? keepAlive : close);
    // After the write: the access log's bytesOut counts the answer.
    this.record(status, code);
    this.state = S_HEAD;
    this.idleSince = this.clock.now();
    if (!keep) this.closeClient();
    return off;
  }

  private canKeepAlive(): boolean {
    return (
      this.clientKeepAlive &&
      this.reqBodyDone &&
      !this.closeAfter &&
      !this.clientEnded &&
      !this.ctx.draining &&
      // (Input after an upgrade request that is refused: see beginExchange.)
      !(this.upgrading && this.stash !== null)
    );
  }

  private hashKeyFor(cluster: Cluster): string {
    const name = cluster.hashHeader;
    if (name !== undefined) {
      const index = findHeader(this.parser, name);
      if (index >= 0) return this.parser.headerValue(index);
    }
    return this.remoteAddress;
  }

  /** ClusterWaiter: a concurrency slot was handed over. */
  onAdmitted(): void {
    if (this.state !== S_QUEUED) {
      // Gone meanwhile: pass the slot on.
      this.cluster?.release();
      return;
    }
    this.slotHeld = true;
    this.startAttempt();
    if (!this.inFeed) this.syncReading();
  }

  /** ClusterWaiter: the queue shrank under us. */
  onRejected(): void {
    if (this.state === S_QUEUED) this.respondError(this.cluster!.errors.overflow);
  }

  private startAttempt(now: number = this.clock.now()): void {
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
    this.connect(endpoint, false);
  }

  private connect(endpoint: UpstreamEndpoint, fresh: boolean): void {
    this.respHeadDone = false;
    this.responseStarted = false;
    this.status = 0;
    this.state = S_CONNECTING;
    const conn = endpoint.pool.acquire(this, fresh);
    this.upstream = conn;
    if (conn.connected) this.upstreamConnect(conn);
  }

  /** UpstreamOwner: the connection is ready; sends the head and the body received so far. */
  onUpstreamConnect(conn: UpstreamConnection): void {
    try {
      this.upstreamConnect(conn);
    } catch (error) {
      this.crash(error);
    }
  }

  private upstreamConnect(conn: UpstreamConnection): void {
    if (conn !== this.upstream) return;
    this.state = S_UPSTREAM;
    const socket = conn.socket;
    const parts = this.parts;
    const head = this.upstreamHead;
    let ok: boolean;
    const from = this.partsSent;
    if (from === parts.length) {
      ok = socket.write(head);
    } else if (from === 0 && this.partsBytes <= COALESCE_BYTES) {
      ok = socket.write(
        parts.length === 1 ? Buffer.concat([head, parts[0]]) : Buffer.concat([head, ...parts]),
      );
    } else {
      socket.cork();
      socket.write(head);
      for (let i = from; i < parts.length; i++) socket.write(parts[i]);
      socket.uncork();
      ok = !socket.writableNeedDrain;
      this.noteClientBytesWritten(socket);
    }
    this.markPartsSent(conn.reused);
    this.upstreamNeedsDrain = !ok;
    if (this.reqBodyDone) this.replyWait.begin(this.endpoint!);
    if (!this.inFeed) this.syncReading();
  }

  private markPartsSent(reused: boolean): void {
    if (this.parts.length === 0) return;
    if (this.retaining || (reused && isIdempotent(this.method))) {
      this.partsSent = this.parts.length;
      this.staleKeep = !this.retaining;
    } else {
      this.dropParts();
    }
  }

  /** Forgets body parts that went upstream: the request can no longer be sent again. */
  private dropParts(): void {
    this.staleKeep = false;
    this.bodyWritten = true;
    if (this.parts.length !== 0) this.parts.length = 0;
    this.partsSent = 0;
    this.partsBytes = 0;
  }

  /** Tracks the request body's framing over buf[off..] and forwards what belongs to it. */
  private receiveBody(buf: Buffer, off: number): number {
    const len = buf.length;
    let take: number;
    if (this.reqFraming === F_LENGTH) {
      take = Math.min(len - off, this.reqRemaining);
      this.reqRemaining -= take;
      if (this.reqRemaining === 0) this.reqBodyDone = true;
    } else {
      let done: boolean;
      try {
        const progress = this.reqChunks.consume(buf, off, len);
        take = progress.consumed;
        done = progress.done;
      } catch (error) {
        this.refuseBody(error);
        return len;
      }
      if (done) this.reqBodyDone = true;
    }
    if (take > 0) this.forwardPart(off === 0 && take === len ? buf : buf.subarray(off, off + take), take);
    if (this.reqBodyDone && this.state === S_UPSTREAM && !this.responseStarted)
      this.replyWait.begin(this.endpoint!);
    if (this.observer !== null) this.observer.bytesIn += take;
    return off + take;
  }

  private forwardPart(part: Buffer, size: number): void {
    const conn = this.state === S_UPSTREAM ? this.upstream : null;
    if (this.retaining) {
      if (this.partsBytes + size <= this.settings!.bufferLimit) {
        this.parts.push(part);
        this.partsBytes += size;
        if (conn !== null) {
          this.partsSent = this.parts.length;
          if (!conn.socket.write(part)) this.upstreamNeedsDrain = true;
          this.noteClientBytesWritten(conn.socket);
        }
        return;
      }
      // Larger than the retry buffer: from here on the request cannot be sent again.
      this.retaining = false;
      if (this.partsSent > 0) {
        this.bodyWritten = true;
        this.parts.splice(0, this.partsSent);
        this.partsSent = 0;
        this.partsBytes = 0;
        for (const kept of this.parts) this.partsBytes += kept.length;
      }
    }
    if (conn === null) {
      this.parts.push(part);
      this.partsBytes += size;
      return;
    }
    if (this.staleKeep) this.dropParts();
    this.bodyWritten = true;
    if (!conn.socket.write(part)) this.upstreamNeedsDrain = true;
    this.noteClientBytesWritten(conn.socket);
  }

  /** Whether the request can be sent again in full (nothing unkept has gone upstream). */
  private canReplay(): boolean {
    return !this.bodyWritten;
  }

  /** Whether the whole body is kept for retries (or there is none): what the retry policy asks. */
  private bodyBuffered(): boolean {
    return !this.hasBody || this.retaining;
  }

  /** UpstreamOwner */
  onUpstreamDrain(conn: UpstreamConnection): void {
    if (conn !== this.upstream || !this.upstreamNeedsDrain) return;
    this.upstreamNeedsDrain = false;
    if (!this.inFeed) this.syncReading();
  }

  // --- the response ---

  /** UpstreamOwner */
  onUpstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    try {
      this.upstreamData(conn, chunk);
    } catch (error) {
      this.crash(error);
    }
  }

  private upstreamData(conn: UpstreamConnection, chunk: Buffer): void {
    if (conn !== this.upstream) {
      conn.pool.release(conn, false);
      return;
    }
    if (this.state === S_TUNNEL) {
      this.lastActivity = this.clock.now();
      if (!this.writeUpstreamBytes(conn, chunk)) {
        this.clientNeedsDrain = true;
        conn.socket.pause();
      }
      return;
    }
    const now = this.clock.now();
    this.lastActivity = now;
    if (!this.responseStarted) {
      this.responseStarted = true;
      this.replyWait.end(now - this.attemptStart);
      if (this.staleKeep) this.dropParts();
    }
    let off = 0;
    let head: Buffer | null = null;
    if (!this.respHeadDone) {
      off = this.readResponseHead(conn, chunk, now);
      if (off < 0) return;
      head = this.respondHead();
      if (head === null) {
        this.passResponse(conn, chunk, off);
        return;
      }
    }
    this.forwardResponseBody(conn, chunk, off, head);
  }

  /**
   * Parses the response head; returns where the body starts once a final head is in, or -1 (more
   * bytes needed, or the exchange went elsewhere: an error, a retry, an upgrade).
   */
  private readResponseHead(conn: UpstreamConnection, chunk: Buffer, now: number): number {
    const parser = this.respParser;
    let off = 0;
    for (;;) {
      let end: number;
      try {
        end = parser.execute(chunk, off, this.method);
      } catch (error) {
        this.badGateway(conn, error);
        return -1;
      }
      if (end < 0) return -1;
      const status = parser.status;
      if (status >= 200 || status === 101) {
        off = end;
        break;
      }
      // An interim response: 100 goes to a client that asked for it, others (103) to HTTP/1.1 clients.
      if (status === 100) {
        if (this.expectContinue) this.socket.write(CONTINUE_100);
      } else if (!this.clientHttp10) {
        this.socket.write(Buffer.from(parser.rawHead()));
      }
      off = end;
      if (off >= chunk.length) return -1;
    }
    const status = parser.status;
    this.status = status;
    this.headLatency = now - this.attemptStart;
    if (status === 101) {
      if (!this.upgrading) {
        this.badGateway(conn, null);
        return -1;
      }
      this.startTunnel(conn, chunk, off);
      return -1;
    }
    if (this.retryOnStatus(conn, chunk, off)) return -1;
    if (this.observer !== null)
      this.observer.attempt(this.endpoint!, status >= 500 ? 'status' : 'ok', status);
    this.respHeadDone = true;
    // The per-try timeout covers the wait for the head; from here only the request timeout applies.
    this.tryDeadline = this.deadline;
    return off;
  }

  /**
   * Sets up the response framing and returns the head to send the client, or null when the upstream's
   * head can go out unchanged (see `passResponse`).
   */
  private respondHead(): Buffer | null {
    const parser = this.respParser;
    const framing = parser.framing;
    let dechunk = false;
    if (framing === 'none') this.respFraming = F_NONE;
    else if (framing === 'content-length') {
      this.respFraming = F_LENGTH;
      this.respRemaining = parser.contentLength;
      if (this.respRemaining === 0) this.respFraming = F_NONE;
    } else if (framing === 'chunked') {
      this.respFraming = F_CHUNKED;
      dechunk = this.clientHttp10;
      if (dechunk) this.dechunkerFor().reset();
      else this.respChunks.reset();
    } else this.respFraming = F_CLOSE;
    if (!this.canKeepAlive() || this.respFraming === F_CLOSE || dechunk) this.closeAfter = true;
    this.sentToClient = true;
    // The common keep-alive case: an HTTP/1.1 head whose only hop-by-hop field is a plain
    // `Connection: keep-alive` (or none) says exactly what we would to an HTTP/1.1 client, so it
    // goes out as it came.
    if (
      !this.closeAfter &&
      !this.clientHttp10 &&
      parser.version === '1.1' &&
      parser.keepAlive &&
      parser.connectionOptions === null &&
      (parser.kindMask & RESPONSE_HOP_BY_HOP & ~HeaderKind.Connection) === 0
    ) {
      return null;
    }
    return writeResponseHead(
      parser,
      dechunk ? RESPONSE_CLOSE_DECHUNKED : this.closeAfter ? RESPONSE_CLOSE : RESPONSE_KEEP_ALIVE,
    );
  }

  private dechunkerFor(): ChunkedDecoder {
    if (this.dechunker === null) {
      this.dechunker = new ChunkedDecoder({
        errorStatus: 502,
        onData: (buf, start, end) => {
          if (!this.writeUpstreamBytes(this.upstream!, buf.subarray(start, end))) {
            this.clientNeedsDrain = true;
          }
        },
      });
    }
    return this.dechunker;
  }

  /**
   * Forwards a response whose head goes out unchanged: the head's bytes and the body in this chunk in
   * one write, with no copy when the head arrived in this chunk.
   */
  private passResponse(conn: UpstreamConnection, chunk: Buffer, off: number): void {
    const parser = this.respParser;
    const headStart = off - parser.length;
    if (parser.buf === chunk && parser.base === headStart) {
      this.forwardResponseBody(conn, chunk, off, null, headStart);
      return;
    }
    // The head came in pieces: the parser holds a copy of it.
    this.forwardResponseBody(conn, chunk, off, Buffer.from(parser.rawHead()));
  }

  /**
   * Forwards chunk[off..] of the response body after `head` (when given), or from `from` when the
   * head's own bytes precede the body in `chunk`; ends the exchange at the body's end.
   */
  private forwardResponseBody(
    conn: UpstreamConnection,
    chunk: Buffer,
    off: number,
    head: Buffer | null,
    from = off,
  ): void {
    const len = chunk.length;
    let take = 0;
    let done = false;
    const socket = this.socket;
    switch (this.respFraming) {
      case F_NONE:
        done = true;
        break;
      case F_LENGTH:
        take = Math.min(len - off, this.respRemaining);
        this.respRemaining -= take;
        done = this.respRemaining === 0;
        break;
      case F_CHUNKED: {
        const dechunk = this.clientHttp10;
        if (dechunk && head !== null) {
          // The decoded data is written by the decoder's onData, after the head.
          if (!socket.write(head)) this.clientNeedsDrain = true;
          head = null;
        }
        try {
          const progress = (dechunk ? this.dechunker! : this.respChunks).consume(chunk, off, len);
          done = progress.done;
          if (dechunk) {
            // Already written, decoded, by the decoder's onData.
            off += progress.consumed;
            from = off;
          } else {
            take = progress.consumed;
          }
        } catch {
          this.abortResponse(conn);
          return;
        }
        break;
      }
      default:
        take = len - off;
    }
    let ok = true;
    if (head !== null) {
      if (take === 0) ok = socket.write(head);
      else if (take <= COALESCE_BYTES)
        ok = socket.write(Buffer.concat([head, chunk.subarray(off, off + take)]));
      else {
        socket.write(head);
        ok = this.writeUpstreamBytes(conn, chunk.subarray(off, off + take));
      }
    } else if (take > 0 || from < off) {
      const end = off + take;
      ok = this.writeUpstreamBytes(conn, from === 0 && end === len ? chunk : chunk.subarray(from, end));
    }
    if (!ok) this.clientNeedsDrain = true;
    if (done) {
      this.finishExchange(conn, off + take < len);
      return;
    }
    if (this.clientNeedsDrain) conn.socket.pause();
  }

  /**
   * Writes bytes read from `conn` (a view of its read buffer) to the client; returns what write does.
   * Bytes the socket could not send at once stay queued, so the next read must not overwrite them.
   */
  private writeUpstreamBytes(conn: UpstreamConnection, bytes: Buffer): boolean {
    const ok = this.socket.write(bytes);
    if (this.socket.writableLength > 0) conn.keepReadBuffer();
    return ok;
  }

  /** The response was sent whole. */
  private finishExchange(conn: UpstreamConnection, extraBytes: boolean): void {
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.status >= 500) cluster.recordFailure(endpoint, this.headLatency);
    else cluster.recordSuccess(endpoint, this.headLatency);
    this.record(this.status, null);
    this.upstream = null;
    // Bytes past the end of the response answer nothing we asked: the connection is out of sync.
    conn.pool.release(conn, this.respParser.keepAlive && this.reqBodyDone && !extraBytes, this.lastActivity);
    this.endExchange(this.closeAfter);
  }

  /** Ends the exchange (the response, or an error, is out) and moves on to the next request. */
  private endExchange(close: boolean): void {
    const cluster = this.cluster;
    const slot = this.slotHeld;
    this.slotHeld = false;
    this.cluster = null;
    this.settings = null;
    this.endpoint = null;
    this.upstream = null;
    if (this.parts.length !== 0) this.parts.length = 0;
    this.partsSent = 0;
    this.partsBytes = 0;
    this.bodyWritten = false;
    this.staleKeep = false;
    this.retaining = false;
    this.respHeadDone = false;
    this.sentToClient = false;
    this.upstreamNeedsDrain = false;
    this.clientNeedsDrain = false;
    this.state = S_HEAD;
    // Close enough to now (the last bytes of the exchange just went by) and saves a clock read.
    this.idleSince = this.lastActivity;
    if (close || this.closeAfter) this.closeClient();
    if (slot && cluster !== null) cluster.release();
    if (this.state === S_HEAD && !this.inFeed) this.resumeInput();
  }

  /** Metrics: the exchange ended with `status` (0: no response head sent); `code` when the mesh answered. */
  private record(status: number, code: string | null): void {
    if (this.observer !== null) this.observer.end(status, code);
    const stats = this.stats;
    if (stats === null) return;
    this.stats = null;
    stats.record(this.methodIndex, status, this.clock.now() - this.startedAt);
    if (code !== null) stats.recordError(code);
  }

  /** Metrics: the exchange is refused before it reached a cluster (`record` then counts it apart). */
  private countUnrouted(): void {
    const metrics = this.ctx.metrics;
    this.stats = metrics === null ? null : metrics.unrouted();
  }

  /** UpstreamOwner: the client's socket drained. */
  private readonly onClientDrain = (): void => {
    if (!this.clientNeedsDrain) return;
    this.clientNeedsDrain = false;
    const conn = this.upstream;
    if (conn !== null && !conn.closed) conn.socket.resume();
  };

  // --- failures, retries, timeouts ---

  /** Retries a response with a retriable status instead of forwarding it, when the policy allows. */
  private retryOnStatus(conn: UpstreamConnection, chunk: Buffer, off: number): boolean {
    const settings = this.settings!;
    if (!settings.retries || this.attempt >= settings.retry.maxAttempts) return false;
    if (!this.mayRetry(this.status)) return false;
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.status >= 500) cluster.recordFailure(endpoint, this.headLatency);
    else cluster.recordSuccess(endpoint, this.headLatency);
    // The connection can be kept only when the whole (discarded) response is already here.
    const parser = this.respParser;
    const rest = chunk.length - off;
    const whole =
      parser.framing === 'none' || (parser.framing === 'content-length' && parser.contentLength === rest);
    this.upstream = null;
    conn.pool.release(conn, whole && parser.keepAlive && this.reqBodyDone);
    if (this.observer !== null) this.observer.attempt(endpoint, 'status', this.status);
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
      this.stats,
    );
    if (at < 0) return false;
    this.backoffAt = at;
    return true;
  }

  private scheduleRetry(): void {
    if (this.stats !== null) this.stats.retries++;
    this.partsSent = 0;
    this.respHeadDone = false;
    this.state = S_BACKOFF;
    if (this.backoffAt <= this.clock.now()) {
      this.startAttempt();
      return;
    }
    this.timer.arm(Math.min(this.backoffAt, this.deadline));
  }

  /** UpstreamOwner */
  onUpstreamEnd(conn: UpstreamConnection): void {
    try {
      this.upstreamEnd(conn);
    } catch (error) {
      this.crash(error);
    }
  }

  private upstreamEnd(conn: UpstreamConnection): void {
    if (conn !== this.upstream) {
      conn.destroy();
      return;
    }
    if (this.state === S_TUNNEL) {
      // A half-close: the client gets the FIN after the bytes before it and may still send.
      this.upstreamEnded = true;
      this.socket.end();
      return;
    }
    if (this.respHeadDone && this.respFraming === F_CLOSE) {
      this.finishExchange(conn, false);
      return;
    }
    this.upstreamFailed(conn, 'reset');
  }

  /** UpstreamOwner */
  onUpstreamClose(conn: UpstreamConnection): void {
    try {
      this.upstreamClose(conn);
    } catch (error) {
      this.crash(error);
    }
  }

  private upstreamClose(conn: UpstreamConnection): void {
    if (conn !== this.upstream) return;
    if (this.state === S_TUNNEL) {
      this.upstream = null;
      // Both ways ended cleanly (the upstream closes only once its FIN and ours are through): the client
      // socket closes once its last bytes are out. Otherwise the upstream failed: cut the client too.
      if (!this.upstreamEnded || !this.clientEnded) this.socket.destroy();
      return;
    }
    this.upstreamFailed(conn, conn.connected ? 'reset' : 'connect-failure');
  }

  /** The attempt failed without a (complete) response. */
  private upstreamFailed(conn: UpstreamConnection, kind: 'connect-failure' | 'reset' | 'timeout'): void {
    if (kind === 'connect-failure' && this.stats !== null) this.stats.connectErrors++;
    this.upstream = null;
    conn.pool.release(conn, false);
    const cluster = this.cluster!;
    const endpoint = this.endpoint!;
    if (this.sentToClient) {
      // Part of the response is out: all the client can learn is that it was cut short.
      cluster.recordFailure(endpoint, this.clock.now() - this.attemptStart);
      if (this.observer !== null) this.observer.attempt(endpoint, kind, this.status);
      this.abortExchange();
      this.socket.destroy();
      return;
    }
    // A reused connection the upstream closed before answering anything most likely closed while idle,
    // racing us: an idempotent request goes again on a new connection, once, outside the retry policy
    // (as Go's and browsers' clients do). Any other request may have been read and acted on before the
    // close, so only the retry policy (its conditions, attempts and budget) may send it again.
    if (
      kind === 'reset' &&
      conn.reused &&
      isIdempotent(this.method) &&
      !this.responseStarted &&
      !this.staleRetried &&
      this.canReplay()
    ) {
      this.staleRetried = true;
      this.staleKeep = false;
      this.partsSent = 0;
      this.connect(endpoint, true);
      return;
    }
    cluster.recordFailure(endpoint, this.clock.now() - this.attemptStart);
    if (this.observer !== null) this.observer.attempt(endpoint, kind, 0);
    if (this.responseStarted) this.respParser = new ResponseParser();
    if (this.mayRetry(kind)) {
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

  /** The upstream's response broke the HTTP rules: 502 BAD_GATEWAY (never forwarded). */
  private badGateway(conn: UpstreamConnection, error: unknown): void {
    this.upstream = null;
    conn.pool.release(conn, false);
    this.respParser = new ResponseParser();
    this.cluster!.recordFailure(this.endpoint!, this.clock.now() - this.attemptStart);
    const reason = isHttpParseError(error) ? error.code : 'UNEXPECTED_101';
    const message = isHttpParseError(error) ? error.message : 'The upstream switched protocols unasked.';
    if (this.observer !== null) this.observer.attempt(this.endpoint!, 'reset', 0);
    this.socket.write(
      errorResponse(502, 'BAD_GATEWAY', 'the upstream sent a malformed response', [{ message, reason }]),
    );
    this.record(502, 'BAD_GATEWAY');
    this.endExchange(true);
  }

  /** A malformed response body (after its head went out): the client connection is cut. */
  private abortResponse(conn: UpstreamConnection): void {
    this.upstream = null;
    conn.pool.release(conn, false);
    this.cluster!.recordFailure(this.endpoint!, this.clock.now() - this.attemptStart);
    if (this.observer !== null) this.observer.attempt(this.endpoint!, 'reset', this.status);
    this.abortExchange();
    this.socket.destroy();
  }

  /** The whole-exchange deadline or the idle timeout passed. */
  private timeoutExchange(response: CannedResponse): void {
    const state = this.state;
    if (state === S_QUEUED && !this.slotHeld) this.cluster!.cancelWaiter(this);
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      conn.pool.release(conn, false);
      if (this.endpoint !== null) {
        const latency = this.clock.now() - this.attemptStart;
        if (this.callerDeadline && response === MESH_ERRORS.timeout)
          this.cluster!.recordCancel(this.endpoint, latency);
        else this.cluster!.recordFailure(this.endpoint, latency);
        if (this.observer !== null) this.observer.attempt(this.endpoint, 'timeout', this.status);
      }
      if (this.responseStarted) this.respParser = new ResponseParser();
    }
    if (this.sentToClient) {
      this.abortExchange();
      this.socket.destroy();
      return;
    }
    this.respondError(response);
  }

  /** Answers the exchange with a mesh error (nothing of a response was sent yet). */
  private respondError(response: CannedResponse): void {
    const keep = this.canKeepAlive();
    this.socket.write(keep ? response.keepAlive : response.close);
    // After the write: the access log's bytesOut counts the error response (as the h2c path does).
    this.record(response.status, response.code);
    this.endExchange(!keep);
  }

  /** The request body broke the framing rules: 400, and the connection closes. */
  private refuseBody(error: unknown): void {
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      conn.pool.release(conn, false);
      if (this.endpoint !== null)
        this.cluster!.recordCancel(this.endpoint, this.clock.now() - this.attemptStart);
    }
    if (this.state === S_QUEUED && !this.slotHeld) this.cluster?.cancelWaiter(this);
    if (this.sentToClient) {
      this.abortExchange();
      this.socket.destroy();
      return;
    }
    this.socket.write(refusal(error));
    this.record(isHttpParseError(error) ? error.status : 400, 'BAD_REQUEST');
    this.endExchange(true);
  }

  /** The request head broke the rules: 400 (or 431, 501, 505), and the connection closes. */
  private refuseRequest(error: unknown): void {
    this.ctx.metrics?.refused(isHttpParseError(error) ? error.status : 400);
    this.socket.write(refusal(error));
    this.closeClient();
  }

  /** Drops the exchange without answering (the client is gone or its response was cut). */
  private abortExchange(): void {
    const cluster = this.cluster;
    if (cluster === null) {
      if (this.state === S_H2) {
        this.record(this.h2!.abort(), null);
        this.state = S_CLOSING;
      }
      return;
    }
    this.record(this.sentToClient ? this.status : 0, null);
    if (this.state === S_QUEUED && !this.slotHeld) cluster.cancelWaiter(this);
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      conn.pool.release(conn, false);
      if (this.endpoint !== null) cluster.recordCancel(this.endpoint, this.clock.now() - this.attemptStart);
    }
    if (this.slotHeld) {
      this.slotHeld = false;
      cluster.release();
    }
    this.cluster = null;
    this.settings = null;
    this.endpoint = null;
    this.parts.length = 0;
    this.state = S_CLOSING;
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
    switch (this.state) {
      case S_HEAD: {
        const at = this.idleSince + this.ctx.clientIdleTimeoutMs;
        if (now >= at) this.socket.destroy();
        else this.timer.arm(at);
        return;
      }
      case S_CLOSING:
        // Lingering close: once our writes are out, give the client LINGER_MS to close first (a reset
        // could make it drop a response it has not read yet), and give up on one that never reads.
        if (this.socket.writableFinished) {
          if (this.flushedAt === 0) this.flushedAt = now;
          if (now - this.flushedAt >= LINGER_MS) this.socket.destroy();
          else this.timer.arm(this.flushedAt + LINGER_MS);
        } else if (now - this.closingSince >= MAX_CLOSING_MS) {
          this.socket.destroy();
        } else {
          this.timer.arm(now + LINGER_MS);
        }
        return;
      case S_QUEUED:
        if (now >= this.deadline) this.timeoutExchange(MESH_ERRORS.timeout);
        else this.timer.arm(this.deadline);
        return;
      case S_BACKOFF:
        if (now >= this.deadline) this.timeoutExchange(MESH_ERRORS.timeout);
        else if (now >= this.backoffAt) this.startAttempt();
        else this.timer.arm(Math.min(this.backoffAt, this.deadline));
        return;
      case S_CONNECTING:
      case S_UPSTREAM: {
        if (now >= this.deadline) {
          this.timeoutExchange(MESH_ERRORS.timeout);
          return;
        }
        if (now >= this.tryDeadline) {
          this.upstreamFailed(this.upstream!, 'timeout');
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
      case S_TUNNEL: {
        // The idle timeout (no bytes either way) bounds a tunnel; the request timeout does not.
        const at = this.lastActivity + this.settings!.idleTimeoutMs;
        if (now >= at) this.socket.destroy();
        else this.timer.arm(at);
        return;
      }
      default:
    }
  }

  // --- upgrades ---

  /**
   * After a 101 the two sockets are piped raw; the upstream connection leaves the pool. The request is
   * counted (metrics) at the 101; its access record and span end with the tunnel (`closeTunnel`), with
   * the tunnel's bytes and duration. The idle timeout applies; the request timeout no longer does.
   */
  private startTunnel(conn: UpstreamConnection, chunk: Buffer, off: number): void {
    const cluster = this.cluster!;
    cluster.recordSuccess(this.endpoint!, this.headLatency);
    if (this.observer !== null) this.observer.attempt(this.endpoint!, 'ok', 101);
    const stats = this.stats;
    if (stats !== null) {
      this.stats = null;
      stats.record(this.methodIndex, 101, this.clock.now() - this.startedAt);
    }
    conn.pool.detach(conn);
    if (this.slotHeld) {
      this.slotHeld = false;
      cluster.release();
    }
    this.state = S_TUNNEL;
    this.sentToClient = true;
    this.upstreamNeedsDrain = false;
    // Body parts kept for a retry have gone upstream; nothing will send them again.
    if (this.parts.length !== 0) this.parts.length = 0;
    this.retaining = false;
    const idle = this.settings!.idleTimeoutMs;
    if (idle > 0) this.timer.arm(this.lastActivity + idle);
    else this.timer.clear();
    const head = writeResponseHead(this.respParser);
    this.socket.write(off < chunk.length ? Buffer.concat([head, chunk.subarray(off)]) : head);
    const stash = this.stash;
    if (stash !== null) {
      this.stash = null;
      this.tunnelToUpstream(stash);
    }
    if (this.clientEnded) conn.socket.end();
    if (!this.inFeed) this.syncReading();
  }

  private tunnelToUpstream(chunk: Buffer): void {
    const conn = this.upstream;
    if (conn === null) return;
    this.lastActivity = this.clock.now();
    if (this.observer !== null) this.observer.bytesIn += chunk.length;
    const ok = conn.socket.write(chunk);
    this.noteClientBytesWritten(conn.socket);
    if (!ok) {
      this.upstreamNeedsDrain = true;
      this.syncReading();
    }
  }

  /** The client connection of a tunnel closed: the upstream's goes too, and the exchange is logged. */
  private closeTunnel(): void {
    const conn = this.upstream;
    this.upstream = null;
    if (conn !== null) {
      // After a FIN each way the upstream's socket closes by itself once our last bytes are out;
      // otherwise (a reset, a timeout, a drain) it is cut.
      if (!this.upstreamEnded || !this.clientEnded) conn.destroy();
    }
    if (this.observer !== null) this.observer.end(101, null);
  }

  // --- the client connection's end ---

  /** Sends what is queued, then closes; input meanwhile is read and dropped (lingering close). */
  private closeClient(): void {
    if (this.state >= S_CLOSING) return;
    this.state = S_CLOSING;
    this.stash = null;
    this.socket.end();
    if (this.clientEnded) this.socket.destroySoon();
    this.closingSince = this.clock.now();
    this.timer.arm(this.closingSince + LINGER_MS);
    this.syncReading();
  }

  private readonly onClientEnd = (): void => {
    this.clientEnded = true;
    switch (this.state) {
      case S_TUNNEL:
        this.upstream?.socket.end();
        return;
      case S_HEAD:
        this.closeClient();
        return;
      case S_CLOSING:
        this.socket.destroySoon();
        return;
      case S_CLOSED:
        return;
      default:
        // The client went away with an exchange in progress (a half-close cannot be told from a
        // client that closed for good, so, as Envoy does, it ends the exchange): free the upstream
        // connection and the concurrency slot now rather than after the response.
        this.abortExchange();
        this.socket.destroy();
    }
  };

  private readonly onClientError = (): void => {
    // 'close' follows.
  };

  private readonly onClientClose = (): void => {
    if (this.state === S_TUNNEL) {
      this.closeTunnel();
    } else if (this.state !== S_CLOSED) {
      this.abortExchange();
    }
    this.state = S_CLOSED;
    this.stash = null;
    this.timer.clear();
    // Closed: no read comes any more, and a buffer no view points into can serve another connection.
    if (this.reads !== null) {
      if (this.holdsReadBuffer()) this.reads.keep();
      this.reads.release();
    }
    this.ctx.onClose(this);
  };
}

function refusal(error: unknown): Buffer {
  if (isHttpParseError(error)) return parseErrorResponse(error);
  return errorResponse(400, 'BAD_REQUEST', 'the request could not be read');
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
