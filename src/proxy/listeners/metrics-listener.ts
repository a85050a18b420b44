import { createServer, type Socket } from 'node:net';
import type { MetricsSource } from '../../telemetry/metrics-source.ts';
import { cannedResponse } from '../error-responses.ts';
import { isHttpParseError, parseErrorResponse, RequestParser } from '../http1/index.ts';
import { bind } from './bind.ts';

export interface ServeMetricsOptions {
  source: MetricsSource;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default `/metrics`. */
  path?: string;
  /** Told about a scrape that failed (the scraper gets a 500 INTERNAL). */
  onError?: (error: unknown) => void;
}

export interface MetricsServer {
  /** The bound port (the OS's choice when 0 was asked for). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/** A scraper's connection left silent this long is closed. */
const IDLE_TIMEOUT_MS = 60_000;
/** A scrape request is a short head; nothing larger is read. */
const MAX_HEAD_SIZE = 16 * 1024;

/**
 * A proxy's admin port: serves a metrics source for Prometheus to scrape (its proxy ports never
 * answer anything but proxied traffic). `GET`/`HEAD` on the path only; other paths and methods get
 * the usual JSON error. HTTP/1.1 with keep-alive, read by the data path's strict parser rather than
 * node:http, which a proxy does not load (~2 MiB of resident memory; see control-link/).
 */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  const sockets = new Set<Socket>();

  /**
   * The reply to one request. A scrape's is a string: Node copies a written string into memory it
   * frees when the write is done, where a Buffer of that size is freed only when V8 collects it,
   * which for one that lived through a write was often the next full collection (~12 KB a scrape).
   */
  async function answer(method: string, target: string): Promise<Buffer | string> {
    const queryAt = target.indexOf('?');
    if ((queryAt < 0 ? target : target.slice(0, queryAt)) !== path) {
      return cannedResponse('NOT_FOUND', `no route for ${method} ${target}; metrics are at ${path}`)
        .keepAlive;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      return cannedResponse(
        'METHOD_NOT_ALLOWED',
        `${method} is not allowed on ${path}; use GET, HEAD`,
        [{ message: 'allowed methods', allow: ['GET', 'HEAD'] }],
        'allow: GET, HEAD\r\n',
      ).keepAlive;
    }
    let text: string;
    try {
      text = await options.source.text();
    } catch (error) {
      options.onError?.(error);
      return cannedResponse('INTERNAL', 'the metrics could not be collected').keepAlive;
    }
    const head =
      'HTTP/1.1 200 OK\r\n' +
      `content-type: ${options.source.contentType}\r\n` +
      `content-length: ${Buffer.byteLength(text, 'utf8')}\r\n` +
      'cache-control: no-store\r\n\r\n';
    return method === 'HEAD' ? head : head + text;
  }

  function serve(socket: Socket): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    const parser = new RequestParser({ maxHeadSize: MAX_HEAD_SIZE });
    // A scraper that half-closes after its request still gets the answer, then the connection ends.
    let answering = false;
    let ended = false;
    socket.on('end', () => {
      ended = true;
      if (!answering) socket.end();
    });

    // One request at a time: the socket is paused while a scrape renders; bytes that came after the
    // head (a pipelined request) are read once it is answered.
    function feed(chunk: Buffer, offset: number): void {
      let end: number;
      try {
        end = parser.execute(chunk, offset);
      } catch (error) {
        if (!isHttpParseError(error)) throw error;
        socket.end(parseErrorResponse(error));
        return;
      }
      if (end < 0) return;
      const { method, target, keepAlive } = parser;
      if (parser.framing === 'chunked' || parser.contentLength > 0) {
        // A scrape has no body, and skipping one is not worth reading it.
        socket.end(cannedResponse('BAD_REQUEST', `a request to ${path} has no body`).close);
        return;
      }
      socket.pause();
      answering = true;
      answer(method, target).then((reply) => {
        answering = false;
        if (socket.destroyed) return;
        if (!keepAlive) {
          socket.end(reply);
          return;
        }
        socket.write(reply);
        if (end < chunk.length) feed(chunk, end);
        if (answering) return;
        if (ended) socket.end();
        else socket.resume();
      });
    }

    socket.on('data', (chunk: Buffer) => feed(chunk, 0));
  }

  const server = createServer({ allowHalfOpen: true }, serve);
  const port = await bind(server, options.port, host);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `http://${urlHost}:${port}${path}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
