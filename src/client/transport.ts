/**
 * How the control-plane client speaks HTTP/1.1: the Transport interface, and the default transport
 * over node:http (node:https for an https:// URL), loaded on first use: one request read whole, or
 * a streaming reply handed over at its head. Not undici: undici alone costs a process ~21 MiB of
 * resident memory. The proxies pass their own transport (src/proxy/control-link), built on the
 * parser of their data path, so a sidecar never loads node:http at all.
 */
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import { defaultSecureContext } from '../core/index.ts';
import {
  abortedError,
  closedError,
  IDEMPOTENT_METHODS,
  InFlight,
  silenceError,
  timeoutError,
  underDeadline,
} from './transport-kit.ts';

export interface Reply {
  status: number;
  /** Lower-case names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  text: string;
}

export interface ExchangeOptions {
  method: string;
  headers: Readonly<Record<string, string | number>>;
  body?: string | Uint8Array;
  /** From sending to the last byte of the reply; past it the exchange fails with a TimeoutError. */
  timeoutMs: number;
}

export interface StreamOptions {
  headers: Readonly<Record<string, string | number>>;
  /** From sending to the reply's head; past it the stream fails with a TimeoutError. */
  headTimeoutMs: number;
  /** Once the head is in, the reply errors (ETIMEDOUT) when its connection is silent this long. */
  idleTimeoutMs: number;
}

/** A streaming reply at its head. */
export interface StreamReply {
  readonly status: number;
  /**
   * The body as it arrives (framing removed): the caller's to read. It errors when the connection
   * fails, or (code ETIMEDOUT) when it is silent longer than the stream's idle timeout.
   */
  readonly body: Readable;
}

export interface OpenStream {
  /** The reply, at its head. */
  readonly response: Promise<StreamReply>;
  /** Ends the exchange where it is: `response` rejects, or the reply's body errors. */
  abort(): void;
}

export interface TransportOptions {
  /** Keep connections for reuse, closing one left idle this long. Without it: one connection per request. */
  keepAliveMs?: number;
}

/** Makes the transport for one control plane (`baseUrl`); the client's options pick the factory. */
export type TransportFactory = (baseUrl: string, options?: TransportOptions) => Transport;

export interface Transport {
  exchange(url: string, options: ExchangeOptions): Promise<Reply>;
  /** A GET whose reply is read as a stream (an event stream). */
  stream(url: string, options: StreamOptions): OpenStream;
  /** Lets exchanges in flight finish, then closes every connection; later requests fail. */
  close(): Promise<void>;
  /** Closes every connection now, streams included; later requests fail. */
  destroy(): Promise<void>;
}

type Send = (
  url: string,
  options: http.RequestOptions,
  callback?: (res: http.IncomingMessage) => void,
) => http.ClientRequest;

interface Stack {
  send: Send;
  agent: http.Agent;
}

/** Reads a reply's body whole, as UTF-8 text. */
export function readText(response: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      text += chunk;
    });
    response.on('end', () => resolve(text));
    response.on('error', reject);
  });
}

/** The default transport, over node:http or node:https. */
export function createTransport(baseUrl: string, options: TransportOptions = {}): Transport {
  const agentOptions: http.AgentOptions =
    options.keepAliveMs === undefined
      ? { keepAlive: false }
      : { keepAlive: true, timeout: options.keepAliveMs };
  const stack = loadStack(baseUrl.startsWith('https:'), agentOptions);
  const inFlight = new InFlight();
  let closed = false;
  let closing: Promise<void> | undefined;

  async function exchange(url: string, request: ExchangeOptions): Promise<Reply> {
    const { send, agent } = await stack;
    const headers = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    let current: http.ClientRequest | undefined;
    return underDeadline<Reply>(
      request.timeoutMs,
      () => current?.destroy(),
      (settlement) => {
        const { finish } = settlement;
        function attempt(mayResend: boolean): void {
          const req = send(url, { method: request.method, agent, headers });
          current = req;
          let answered = false;
          req.on('error', (error: NodeJS.ErrnoException) => {
            // A kept-alive connection the server closed just as we reused it: the request never
            // reached it, so an idempotent one goes again, once, on a new connection.
            if (
              mayResend &&
              !answered &&
              !settlement.settled &&
              req.reusedSocket &&
              error.code === 'ECONNRESET'
            ) {
              attempt(false);
              return;
            }
            finish(error);
          });
          req.on('response', (response) => {
            answered = true;
            readText(response).then(
              (text) =>
                finish(undefined, { status: response.statusCode ?? 0, headers: response.headers, text }),
              finish,
            );
          });
          req.end(request.body);
        }

        attempt(IDEMPOTENT_METHODS.has(request.method));
      },
    );
  }

  return {
    async exchange(url, request) {
      if (closed) throw closedError();
      return inFlight.run(() => exchange(url, request));
    },

    stream(url, request) {
      let req: http.ClientRequest | undefined;
      let head: http.IncomingMessage | undefined;
      let aborted = false;
      const response = stack.then(
        ({ send, agent }) =>
          new Promise<StreamReply>((resolve, reject) => {
            if (closed || aborted) {
              reject(aborted ? abortedError() : closedError());
              return;
            }
            const sent = send(url, { method: 'GET', agent, headers: request.headers });
            req = sent;
            const timer = setTimeout(
              () => sent.destroy(timeoutError(`no reply within ${request.headTimeoutMs} ms`)),
              request.headTimeoutMs,
            );
            sent.on('error', (error) => {
              clearTimeout(timer);
              reject(error);
            });
            sent.on('response', (reply) => {
              clearTimeout(timer);
              head = reply;
              reply.socket.setTimeout(request.idleTimeoutMs, () =>
                reply.destroy(silenceError(request.idleTimeoutMs)),
              );
              resolve({ status: reply.statusCode ?? 0, body: reply });
            });
            sent.end();
          }),
      );
      return {
        response,
        abort() {
          aborted = true;
          if (head) head.destroy();
          else req?.destroy(abortedError());
        },
      };
    },

    close() {
      closed = true;
      closing ??= (async () => {
        await inFlight.drained();
        (await stack).agent.destroy();
      })();
      return closing;
    },

    async destroy() {
      closed = true;
      (await stack).agent.destroy();
    },
  };
}

function loadStack(secure: boolean, agentOptions: http.AgentOptions): Promise<Stack> {
  if (!secure) {
    return import('node:http').then((http) => ({ send: http.request, agent: new http.Agent(agentOptions) }));
  }
  // Loaded only for an https:// control plane: node:https brings in the TLS stack, ~1 MiB of RSS a
  // process on a plain-http control plane would carry for nothing.
  return import('node:https').then((https) => ({
    send: https.request as Send,
    agent: new https.Agent({ ...agentOptions, secureContext: defaultSecureContext() }),
  }));
}
