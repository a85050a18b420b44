/**
 * The proxies' HTTP/1.1 client for their control plane (registration, the watch stream, span
 * exports), on node:net and the strict parser of the data path (src/proxy/http1): a proxy then never
 * loads node:http, whose client and server code cost it ~2 MiB of resident memory (issue 3 holds a
 * sidecar under 60 MB). It implements the control-plane client's Transport (src/client/transport.ts)
 * with the same behaviour as its node:http default: keep-alive connections for exchanges, one
 * resend of an idempotent request whose reused connection closed before answering, a deadline per
 * exchange, a dedicated connection per stream. Not for the data path, which has its own pools.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  abortedError,
  closedError,
  type ExchangeOptions,
  IDEMPOTENT_METHODS,
  InFlight,
  type OpenStream,
  type Reply,
  type StreamOptions,
  type StreamReply,
  silenceError,
  type Transport,
  type TransportOptions,
  timeoutError,
  underDeadline,
} from '../../client/index.ts';
import { defaultSecureContext, loadTls } from '../../core/index.ts';
import { allIn, FIELD_CHAR, TCHAR } from '../http1/chars.ts';
import {
  type BodyDecoder,
  ChunkedDecoder,
  CloseDelimitedDecoder,
  createBodyDecoder,
  ResponseParser,
} from '../http1/index.ts';

/** Methods whose empty body is announced with `content-length: 0`, as node:http does. */
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);
/** Headers the transport writes itself. */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);
/** A reply read whole larger than this fails the exchange (the largest is a mesh snapshot). */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** What the connection tells the exchange or stream reading from it. */
interface Reader {
  head(status: number, headers: Record<string, string>): void;
  body(buf: Buffer): void;
  /** The reply ended; `reusable`: the connection may carry another request. */
  end(reusable: boolean): void;
  /** The connection failed; `answered`: some of the reply had arrived. */
  fail(error: Error, answered: boolean): void;
}

/** One connection to the control plane; it carries one request at a time. */
class Connection {
  /** Set once a reply ended on it: a later request is on a reused connection. */
  used = false;
  private reader: Reader | undefined;
  private method = 'GET';
  private readonly parser = new ResponseParser();
  private decoder: BodyDecoder | undefined;
  private answered = false;
  private error: Error | undefined;
  private onSilence: (() => void) | undefined;

  constructor(
    readonly socket: Socket,
    private readonly onGone: (connection: Connection) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => this.closed());
    socket.on('timeout', () => this.onSilence?.());
  }

  /** Writes a request; its reply goes to `reader`. */
  send(head: string, body: string | Uint8Array | undefined, method: string, reader: Reader): void {
    this.reader = reader;
    this.method = method;
    this.answered = false;
    this.decoder = undefined;
    this.whenSilent(0, undefined);
    this.socket.write(head, 'latin1');
    if (body !== undefined && body.length > 0) this.socket.write(body);
  }

  /** Closes an idle connection after `ms` of silence. */
  idleFor(ms: number): void {
    this.reader = undefined;
    this.whenSilent(ms, () => this.socket.destroy());
  }

  /** Runs `action` when the connection has been silent for `ms` (0: never). */
  whenSilent(ms: number, action: (() => void) | undefined): void {
    this.onSilence = action;
    this.socket.setTimeout(ms);
  }

  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  private receive(chunk: Buffer): void {
    const reader = this.reader;
    if (reader === undefined) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.socket.destroy();
      return;
    }
    this.answered = true;
    let offset = 0;
    try {
      while (offset < chunk.length) {
        if (this.decoder === undefined) {
          const end = this.parser.execute(chunk, offset, this.method);
          if (end < 0) return;
          offset = end;
          const status = this.parser.status;
          if (status < 200) {
            if (status === 101) throw new Error('the control plane switched protocols unasked');
            continue; // 100 Continue and other interim replies precede the real one
          }
          // A chunked body's data comes through onData, framing removed; the others pass as they are.
          this.decoder = createBodyDecoder(this.parser, {
            errorStatus: 502,
            onData: (buf, start, end) => reader.body(buf.subarray(start, end)),
          });
          reader.head(status, headerRecord(this.parser));
        } else {
          const start = offset;
          const progress = this.decoder.consume(chunk, offset, chunk.length);
          offset += progress.consumed;
          if (!(this.decoder instanceof ChunkedDecoder) && offset > start) {
            reader.body(chunk.subarray(start, offset));
          }
        }
        if (this.decoder.done) {
          this.reader = undefined;
          reader.end(this.parser.keepAlive && offset === chunk.length);
          if (offset < chunk.length) this.socket.destroy();
          return;
        }
      }
    } catch (error) {
      this.reader = undefined;
      this.socket.destroy();
      reader.fail(malformed(error), true);
    }
  }

  private closed(): void {
    const reader = this.reader;
    this.reader = undefined;
    this.onGone(this);
    if (reader === undefined) return;
    if (this.decoder instanceof CloseDelimitedDecoder && this.error === undefined) {
      reader.end(false);
      return;
    }
    const error = this.error ?? new Error('the control plane closed the connection before its reply ended');
    reader.fail(error, this.answered);
  }
}

function headerRecord(parser: ResponseParser): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [field, value] of parser.headerList()) {
    const name = field.toLowerCase();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

function malformed(error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(`the control plane's reply is malformed: ${reason}`, { cause: error });
}

interface Origin {
  host: string;
  port: number;
  secure: boolean;
  /** The Host header. */
  authority: string;
}

function originOf(baseUrl: string): Origin {
  const url = new URL(baseUrl);
  const secure = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: Number(url.port) || (secure ? 443 : 80), secure, authority: url.host };
}

/** The request head, refusing header names and values that the parsers refuse (as node:http does). */
function requestHead(
  method: string,
  target: string,
  origin: Origin,
  headers: Readonly<Record<string, string | number>>,
  bodyLength: number | undefined,
  keepAlive: boolean,
): string {
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${origin.authority}\r\n`;
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (OWN_HEADERS.has(lower)) continue;
    const value = String(headers[name]);
    if (name === '' || !allIn(TCHAR, name)) throw new TypeError(`invalid header name "${name}"`);
    if (!allIn(FIELD_CHAR, value)) throw new TypeError(`invalid character in header "${name}"`);
    head += `${lower}: ${value}\r\n`;
  }
  if (bodyLength !== undefined) head += `content-length: ${bodyLength}\r\n`;
  if (!keepAlive) head += 'connection: close\r\n';
  return `${head}\r\n`;
}

function targetOf(url: string, origin: Origin): string {
  const parsed = new URL(url);
  if (parsed.host !== origin.authority) {
    throw new TypeError(`${url} is not on the control plane at ${origin.authority}`);
  }
  return `${parsed.pathname}${parsed.search}`;
}

/** A Transport (see src/client/transport.ts) to the control plane at `baseUrl`. */
export function createHttp1Transport(baseUrl: string, options: TransportOptions = {}): Transport {
  const origin = originOf(baseUrl);
  const keepAliveMs = options.keepAliveMs;
  const idle: Connection[] = [];
  const open = new Set<Connection>();
  const inFlight = new InFlight();
  let closed = false;
  let closing: Promise<void> | undefined;

  function connect(): Connection {
    const socket = origin.secure
      ? loadTls().connect({
          host: origin.host,
          port: origin.port,
          servername: isIP(origin.host) === 0 ? origin.host : undefined,
          secureContext: defaultSecureContext(),
        })
      : netConnect({ host: origin.host, port: origin.port });
    const connection = new Connection(socket, (gone) => {
      open.delete(gone);
      const at = idle.indexOf(gone);
      if (at >= 0) idle.splice(at, 1);
    });
    open.add(connection);
    return connection;
  }

  /** A kept-alive connection to reuse, or undefined. */
  function takeIdle(): Connection | undefined {
    for (let connection = idle.pop(); connection !== undefined; connection = idle.pop()) {
      if (!connection.socket.destroyed) return connection;
    }
    return undefined;
  }

  function release(connection: Connection): void {
    connection.used = true;
    if (closed || keepAliveMs === undefined) {
      connection.destroy();
      return;
    }
    connection.idleFor(keepAliveMs);
    idle.push(connection);
  }

  function exchange(url: string, request: ExchangeOptions): Promise<Reply> {
    const { body } = request;
    const bodyLength =
      body === undefined ? (BODYLESS.has(request.method) ? undefined : 0) : Buffer.byteLength(body);
    const head = requestHead(
      request.method,
      targetOf(url, origin),
      origin,
      request.headers,
      bodyLength,
      keepAliveMs !== undefined,
    );
    let current: Connection | undefined;
    return underDeadline<Reply>(
      request.timeoutMs,
      () => current?.destroy(),
      (settlement) => {
        const { finish } = settlement;
        function attempt(mayResend: boolean, reuse: boolean): void {
          const connection = (reuse ? takeIdle() : undefined) ?? connect();
          current = connection;
          const reused = connection.used;
          let status = 0;
          let headers: Record<string, string> = {};
          const chunks: Buffer[] = [];
          let size = 0;
          connection.send(head, body, request.method, {
            head(replyStatus, replyHeaders) {
              status = replyStatus;
              headers = replyHeaders;
            },
            body(buf) {
              size += buf.length;
              if (size > MAX_REPLY_BYTES)
                finish(new Error(`the reply is larger than ${MAX_REPLY_BYTES} bytes`));
              else chunks.push(buf);
            },
            end(reusable) {
              if (settlement.settled) return;
              if (reusable) release(connection);
              else connection.destroy();
              finish(undefined, { status, headers, text: Buffer.concat(chunks, size).toString('utf8') });
            },
            fail(error, answered) {
              // A kept-alive connection the server closed just as we reused it: the request never
              // reached it, so an idempotent one goes again, once, on a new connection.
              if (mayResend && reused && !answered && !settlement.settled) {
                attempt(false, false);
                return;
              }
              finish(error);
            },
          });
        }

        attempt(IDEMPOTENT_METHODS.has(request.method), true);
      },
    );
  }

  function stream(url: string, request: StreamOptions): OpenStream {
    let connection: Connection | undefined;
    let body: Readable | undefined;
    let aborted = false;
    const response = new Promise<StreamReply>((resolve, reject) => {
      if (closed) {
        reject(closedError());
        return;
      }
      const head = requestHead('GET', targetOf(url, origin), origin, request.headers, undefined, false);
      const sent = connect();
      connection = sent;
      const timer = setTimeout(
        () => sent.destroy(timeoutError(`no reply within ${request.headTimeoutMs} ms`)),
        request.headTimeoutMs,
      );
      sent.send(head, undefined, 'GET', {
        head(status) {
          clearTimeout(timer);
          const reply = new Readable({ read: () => sent.socket.resume() });
          body = reply;
          sent.whenSilent(request.idleTimeoutMs, () => sent.destroy(silenceError(request.idleTimeoutMs)));
          resolve({ status, body: reply });
        },
        body(buf) {
          if (body?.push(buf) === false) sent.socket.pause();
        },
        end() {
          sent.destroy();
          body?.push(null);
        },
        fail(error) {
          clearTimeout(timer);
          if (body === undefined) reject(aborted ? abortedError() : error);
          else body.destroy(error);
        },
      });
    });
    return {
      response,
      abort() {
        aborted = true;
        // Without a connection the transport was closed and `response` has already failed.
        if (body !== undefined) {
          body.destroy();
          connection?.destroy();
        } else {
          connection?.destroy(abortedError());
        }
      },
    };
  }

  function destroyAll(): void {
    for (const connection of open) connection.destroy();
    idle.length = 0;
  }

  return {
    async exchange(url, request) {
      if (closed) throw closedError();
      return inFlight.run(() => exchange(url, request));
    },
    stream,
    close() {
      closed = true;
      closing ??= inFlight.drained().then(destroyAll);
      return closing;
    },
    async destroy() {
      closed = true;
      destroyAll();
    },
  };
}
