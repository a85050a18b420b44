/** From `mesh.fetch()` arguments to a MeshRequest, and from a MeshRequest to what undici sends. */
import { Readable } from 'node:stream';
import { Headers } from 'undici';
import { HOP_BY_HOP_HEADERS, MeshError, parseTimeout } from '../core/index.ts';
import { parentHeaders } from './tracing.ts';
import type { MeshBody, MeshFetchInit, MeshRequest } from './types.ts';

export function createMeshRequest(service: string, path: string, init: MeshFetchInit = {}): MeshRequest {
  if (typeof service !== 'string' || service === '')
    throw badRequest('service', 'a service name is required');
  if (typeof path !== 'string') throw badRequest('path', 'a path is required');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw badRequest('path', `expected a path such as /items, not a URL: ${path}`);
  }
  let timeoutMs: number | undefined;
  if (init.timeout !== undefined) {
    try {
      // 0 is none; below 1 ms is refused, as in policies (it would otherwise round to none).
      timeoutMs = parseTimeout(init.timeout);
    } catch (error) {
      throw badRequest('timeout', (error as Error).message);
    }
  }
  let headers: Headers;
  try {
    headers = toHeaders(init.headers);
  } catch (error) {
    throw badRequest('headers', (error as Error).message);
  }
  if (init.parent !== undefined && init.parent !== null) {
    const parent = parentHeaders(init.parent);
    headers.set('traceparent', parent.traceparent.trim());
    if (parent.tracestate !== undefined) headers.set('tracestate', parent.tracestate);
    else headers.delete('tracestate');
  }
  return {
    service,
    path: path.startsWith('/') ? path : `/${path}`,
    method: (init.method ?? 'GET').toUpperCase(),
    headers,
    body: init.body ?? null,
    timeoutMs,
    signal: init.signal ?? undefined,
    hashKey: init.hashKey,
  };
}

/** Like `new Headers(init)`, except that an array in a record means one header line per item. */
function toHeaders(init: MeshFetchInit['headers']): Headers {
  if (init === undefined || init === null) return new Headers();
  if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function')
    return new Headers(init as ConstructorParameters<typeof Headers>[0]);
  const headers = new Headers();
  for (const [name, value] of Object.entries(init as Record<string, string | readonly string[]>)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.append(name, value as string);
  }
  return headers;
}

/** A request body as it will be sent: bytes that can be sent again, or a stream that cannot. */
export type OutgoingBody =
  | { kind: 'none' }
  | { kind: 'buffer'; bytes: Buffer }
  | { kind: 'stream'; stream: Readable };

/**
 * Buffers what is already in memory (strings, bytes, URLSearchParams, Blobs) and sets the content
 * type `fetch` would; streams are passed through as they are.
 */
export async function prepareBody(body: MeshBody | null, headers: Headers): Promise<OutgoingBody> {
  if (body === null || body === undefined) return { kind: 'none' };
  if (typeof body === 'string') {
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
    return { kind: 'buffer', bytes: Buffer.from(body, 'utf8') };
  }
  if (body instanceof URLSearchParams) {
    if (!headers.has('content-type'))
      headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    return { kind: 'buffer', bytes: Buffer.from(body.toString(), 'utf8') };
  }
  if (body instanceof Uint8Array) {
    return { kind: 'buffer', bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  }
  if (body instanceof ArrayBuffer) return { kind: 'buffer', bytes: Buffer.from(body) };
  if (body instanceof Blob) {
    if (body.type !== '' && !headers.has('content-type')) headers.set('content-type', body.type);
    return { kind: 'buffer', bytes: Buffer.from(await body.arrayBuffer()) };
  }
  if (body instanceof ReadableStream) return { kind: 'stream', stream: Readable.fromWeb(body as never) };
  if (body instanceof Readable) return { kind: 'stream', stream: body };
  if (isAsyncIterable(body)) return { kind: 'stream', stream: Readable.from(body, { objectMode: false }) };
  throw badRequest('body', 'expected a string, bytes, URLSearchParams, a Blob or a stream');
}

/** Connection-level headers belong to one hop; undici manages them (and refuses some, `expect` too). */
const HOP_BY_HOP: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'expect']);

/** The headers to send, as a record for undici; content-length only for streams (undici sets it otherwise). */
export function outgoingHeaders(headers: Headers, body: OutgoingBody): Record<string, string> {
  const out: Record<string, string> = {};
  const connection = headers.get('connection');
  const listed = connection ? connection.split(',').map((name) => name.trim().toLowerCase()) : [];
  for (const [name, value] of headers) {
    if (HOP_BY_HOP.has(name) || listed.includes(name)) continue;
    if (name === 'content-length' && body.kind !== 'stream') continue;
    out[name] = value;
  }
  return out;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function'
  );
}

function badRequest(path: string, message: string): MeshError {
  return new MeshError('BAD_REQUEST', `mesh.fetch: ${path}: ${message}`, { details: [{ path, message }] });
}
