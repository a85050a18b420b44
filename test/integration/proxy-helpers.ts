/** Shared pieces of the proxy tests: upstream servers, instances, policies and raw HTTP clients. */
import { createHash } from 'node:crypto';
import {
  type Agent,
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Instance, ServicePolicy } from '../../src/core/index.ts';
import { defaultServicePolicy } from '../../src/proxy/index.ts';

export interface Upstream {
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests handled so far. */
  requests: number;
  close(): Promise<void>;
}

/** A node:http upstream counting its connections and requests. */
export async function startUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: 0 };
  const server = createHttpServer((req, res) => {
    state.requests++;
    handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return state.connections;
    },
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An upstream answering every request with JSON describing it: method, url, headers, body. */
export function echo(name = 'echo'): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', name);
      res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body }));
    });
  };
}

/** A raw TCP server (for upgrades and misbehaving upstreams). */
export async function startRawServer(onSocket: (socket: Socket) => void): Promise<{
  port: number;
  connections: number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let seq = 0;

export function instance(service: string, port: number, overrides: Partial<Instance> = {}): Instance {
  const now = Date.now();
  return {
    id: `${service}-${port}-${seq++}`,
    service,
    address: '127.0.0.1',
    port,
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: now,
    healthChangedAt: now,
    ...overrides,
  };
}

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

/** The default policy with some fields changed (one level of nesting merged). */
export function policy(service: string, changes: DeepPartial<ServicePolicy> = {}): ServicePolicy {
  const base = defaultServicePolicy(service) as unknown as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    const current = base[key];
    merged[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value) && typeof current === 'object'
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return merged as unknown as ServicePolicy;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Sends raw bytes and collects everything until the server closes (or `timeoutMs`). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(data);
  });
}

/**
 * Parses one response from the start of `raw`: content-length, chunked, bodiless or (when `closed`)
 * close-delimited; undefined while incomplete. `noBody` for the response to a HEAD.
 */
export function parseOne(
  raw: string,
  closed = true,
  noBody = false,
): { response: RawResponse; rest: string } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const headLines = raw.slice(0, end).split('\r\n');
  const status = Number(headLines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of headLines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = '';
  let next = end + 4;
  if (noBody || status < 200 || status === 204 || status === 304) {
    // no body
  } else if (headers['transfer-encoding'] === 'chunked') {
    for (;;) {
      const lineEnd = raw.indexOf('\r\n', next);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(raw.slice(next, lineEnd), 16);
      if (size === 0) {
        const close = raw.indexOf('\r\n\r\n', lineEnd);
        if (close < 0) return undefined;
        next = close + 4;
        break;
      }
      if (raw.length < lineEnd + 2 + size + 2) return undefined;
      body += raw.slice(lineEnd + 2, lineEnd + 2 + size);
      next = lineEnd + 2 + size + 2;
    }
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (raw.length < next + length) return undefined;
    body = raw.slice(next, next + length);
    next += length;
  } else {
    if (!closed) return undefined;
    body = raw.slice(next);
    next = raw.length;
  }
  return { response: { status, headers, body, raw: raw.slice(0, next) }, rest: raw.slice(next) };
}

/** Splits a stream of responses (read until the connection closed) into parsed responses. */
export function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const parsed = parseOne(rest);
    if (parsed === undefined) break;
    out.push(parsed.response);
    rest = parsed.rest;
  }
  return out;
}

/** A keep-alive client over one raw connection: one request at a time, responses parsed. */
export class RawClient {
  readonly socket: Socket;
  closed = false;
  private buffer = '';
  private waiter:
    | { resolve: (r: RawResponse) => void; reject: (e: Error) => void; noBody: boolean }
    | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.check();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.check();
      this.waiter?.reject(new Error(`connection closed; got ${JSON.stringify(this.buffer)}`));
      this.waiter = undefined;
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes raw bytes and waits for the next response. */
  send(data: string | Buffer, noBody = false): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, noBody };
      this.socket.write(data);
      this.check();
    });
  }

  request(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<RawResponse> {
    let head = `${method} ${path} HTTP/1.1\r\nhost: test\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
    return this.send(`${head}\r\n${body ?? ''}`, method === 'HEAD');
  }

  close(): void {
    this.socket.destroy();
  }

  private check(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    const parsed = parseOne(this.buffer, this.closed, waiter.noBody);
    if (parsed === undefined) return;
    this.buffer = parsed.rest;
    this.waiter = undefined;
    waiter.resolve(parsed.response);
  }
}

/** One request over a fresh connection (`connection: close`), parsed. */
export async function request(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { host: 'test', connection: 'close', ...options.headers };
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  if (options.body !== undefined && headers['transfer-encoding'] === undefined) {
    head += `content-length: ${Buffer.byteLength(options.body)}\r\n`;
  }
  const data = Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), Buffer.from(options.body ?? '')]);
  const raw = await rawExchange(port, data);
  const [response] = parseResponses(raw);
  if (response === undefined) throw new Error(`no response: ${JSON.stringify(raw)}`);
  return response;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** `size` bytes of xorshift32 output from `seed`: every body differs from every other at every offset. */
export function bytesFor(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The SHA-256 of `data` in hex. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What a test upstream answers through: node:http's response and node:http2's compatibility one alike. */
export interface UpstreamResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/**
 * An upstream handler (node:http or node:http2) that hashes the request body as it arrives and
 * answers `{ sha, length }`; a slow one waits 200 ms before it reads and 1 ms after every chunk, so
 * what the proxy sends it queues up.
 */
export function hashBody(slow: boolean): (req: Readable, res: UpstreamResponse) => void {
  return (req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    if (slow) {
      req.pause();
      setTimeout(() => req.resume(), 200);
    }
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (slow) {
        req.pause();
        setTimeout(() => req.resume(), 1);
      }
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sha: hash.digest('hex'), length }));
    });
  };
}

/** POSTs `body` in irregular pieces, a few per turn of the event loop; resolves with the JSON answer. */
export function upload(
  port: number,
  agent: Agent,
  path: string,
  body: Buffer,
  chunked: boolean,
): Promise<{ status: number; answer: { sha: string; length: number } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, answer: JSON.parse(Buffer.concat(parts).toString()) });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('error', reject);
    let offset = 0;
    let step = 1;
    const pump = (): void => {
      for (let burst = 0; burst < 3 && offset < body.length; burst++) {
        step = (step * 7 + 3) % 9_001;
        const piece = body.subarray(offset, offset + 1 + step);
        offset += piece.length;
        req.write(piece);
      }
      if (offset < body.length) setTimeout(pump, 1);
      else req.end();
    };
    pump();
  });
}
