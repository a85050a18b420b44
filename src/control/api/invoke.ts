/**
 * Service invocation on the control plane, through the node's proxy (see ../invoker.ts), so it gets
 * the same balancing, breakers, retries, timeouts and mesh errors as the gateway:
 * - the earlier mesh's `POST /api/v1/mesh/v2/call`: a JSON envelope in; the callee's status, headers
 *   and body (as text) out;
 * - Dapr's `ANY /v1.0/invoke/{service}/method/{path}`: method, headers, query and body streamed
 *   through, the response streamed back, both unchanged but for hop-by-hop headers.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { type SeedCallRequest, seedCallRequest, validate } from '../../config/index.ts';
import {
  DEADLINE_HEADER,
  formatDeadline,
  HOP_BY_HOP_HEADERS,
  isMeshError,
  MeshError,
  parseDeadline,
} from '../../core/index.ts';
import type { ControlRouter, Handler } from '../context.ts';
import { hasBody, json, type Reply } from '../http.ts';
import { invocationError, type MeshInvoker } from '../invoker.ts';

const CALL_PATH = '/api/v1/mesh/v2/call';
export const DAPR_INVOKE_PREFIX = '/v1.0/invoke/';
const DAPR_TARGET = /^\/v1\.0\/invoke\/[^/?#]+\/method(?:[/?]|$)/;

/** The earlier mesh's default. */
const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/**
 * The proxy answers UPSTREAM_TIMEOUT at the call's deadline (it gets it in x-trellis-deadline); this
 * much later the call stops waiting for the proxy anyway.
 */
const TIMEOUT_GRACE_MS = 250;
/** `call` holds the callee's body in memory and in its JSON answer; larger bodies need /v1.0/invoke. */
export const MAX_CALL_RESPONSE_BYTES = 8 * 1024 * 1024;
const MESH_ERROR_HEADER = 'x-trellis-error';
/** Of a request body the callee did not wait for, this much more is read and dropped before the connection is cut. */
const DRAIN_LIMIT_BYTES = 8 * 1024 * 1024;

/** Hop-by-hop headers and `expect` (the control plane answers 100 Continue itself): never forwarded. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'expect']);
/** Trace context the proxy reads (W3C, and B3 on input). */
const TRACE_HEADERS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
] as const;

export function isDaprInvoke(path: string): boolean {
  return path.startsWith(DAPR_INVOKE_PREFIX);
}

export function registerCallRoute(router: ControlRouter, invoker: MeshInvoker): void {
  router.add('POST', CALL_PATH, async (ctx) => {
    const call = validate(seedCallRequest, await ctx.body(), { what: 'call' });
    return invokeCall(invoker, call, callerTrace(ctx.req.headers));
  });
}

export interface DaprInvokeOptions {
  /** The control plane's admin token: a request's `Authorization: Bearer <it>` is not forwarded. */
  adminToken?: string;
}

/** The handler of every method on `/v1.0/invoke/…` (the router matches fixed segment counts only). */
export function createDaprInvokeHandler(invoker: MeshInvoker, options: DaprInvokeOptions = {}): Handler {
  const adminAuthorization = options.adminToken;
  return async ({ req, res }) => {
    const target = req.url ?? '/';
    if (!DAPR_TARGET.test(target)) {
      throw new MeshError(
        'NOT_FOUND',
        `expected ${DAPR_INVOKE_PREFIX}{service}/method/{path}, got ${target.split('?')[0]}`,
      );
    }
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    // undici destroys a body it stops sending (the callee answered early): given `req` itself, that
    // would leave the client's connection stuck mid-body. It gets a pipe; what is left is drained below.
    const upload = hasBody(req) ? req.pipe(new PassThrough()) : undefined;
    try {
      return await forward(invoker, req, res, {
        path: target,
        method: req.method ?? 'GET',
        headers: forwardHeaders(req, adminAuthorization),
        body: upload,
        signal: abort.signal,
      });
    } finally {
      if (upload !== undefined) drainRest(req, upload);
    }
  };
}

/** Sends the request on and streams the answer back; a failure below HTTP becomes a mesh error reply. */
async function forward(
  invoker: MeshInvoker,
  req: IncomingMessage,
  res: ServerResponse,
  request: Dispatcher.RequestOptions,
): Promise<Reply | undefined> {
  let response: Dispatcher.ResponseData;
  try {
    response = await invoker.request(request);
  } catch (error) {
    if (req.destroyed || res.destroyed) return undefined;
    return errorReply(invocationError(error, false));
  }
  const headers = responseHeaders(response.headers);
  try {
    if (response.statusText) res.writeHead(response.statusCode, response.statusText, headers);
    else res.writeHead(response.statusCode, headers);
  } catch (error) {
    response.body.destroy();
    throw new MeshError('BAD_GATEWAY', `the response cannot be passed on: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    await pipeline(response.body, res);
  } catch {
    // The client or the upstream went away mid-body; pipeline has destroyed both sides.
  }
  return undefined;
}

/**
 * Reads and drops what the client still sends of a body the exchange no longer wants, as node:http
 * does for a body nobody read, so the connection stays usable; past DRAIN_LIMIT_BYTES it is cut.
 */
function drainRest(req: IncomingMessage, upload: PassThrough): void {
  if (req.complete || req.destroyed) return;
  req.unpipe(upload);
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * The trace context an instrumented client put on the call request itself (it cannot know about the
 * envelope's `headers`), so the callee's hop continues the caller's trace.
 */
function callerTrace(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
  }
  return out;
}

async function invokeCall(
  invoker: MeshInvoker,
  call: SeedCallRequest,
  trace: Record<string, string>,
): Promise<Reply> {
  const started = performance.now();
  const timeoutMs = call.timeout ?? DEFAULT_CALL_TIMEOUT_MS;
  const { headers, body, deadline } = callRequest(call, Date.now() + timeoutMs, trace);
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs + TIMEOUT_GRACE_MS);
  try {
    const response = await invoker.request({
      path: `${DAPR_INVOKE_PREFIX}${call.service_name}/method${call.path}`,
      method: call.method,
      headers,
      body,
      signal: abort.signal,
    });
    const text = await readText(response.body, MAX_CALL_RESPONSE_BYTES);
    const meshCode = response.headers[MESH_ERROR_HEADER];
    if (typeof meshCode === 'string') return meshErrorReply(response.statusCode, meshCode, text);
    const elapsed = performance.now() - started;
    return json({
      status_code: response.statusCode,
      headers: flattenHeaders(response.headers),
      body: text,
      duration: Math.round(elapsed) / 1000,
      duration_ms: Math.round(elapsed * 1000) / 1000,
    });
  } catch (error) {
    // Past the deadline the proxy cuts a response it has begun (it can no longer answer 504): the
    // call's timeout passed all the same.
    const late = timedOut || Date.now() >= deadline;
    return errorReply(isMeshError(error) ? error : invocationError(error, late));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The call's headers (hop-by-hop ones dropped), Host defaulting to the service, the trace context of
 * the call request unless `headers` has its own, the effective deadline, the body.
 */
function callRequest(
  call: SeedCallRequest,
  deadline: number,
  trace: Record<string, string>,
): { headers: Record<string, string>; body: string | undefined; deadline: number } {
  const headers: Record<string, string> = {};
  let callerDeadline = Number.POSITIVE_INFINITY;
  for (const [name, value] of Object.entries(call.headers)) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'content-length') continue;
    if (lower === DEADLINE_HEADER) callerDeadline = parseDeadline(value) ?? callerDeadline;
    else headers[lower] = value;
  }
  headers.host ??= call.service_name;
  if (!TRACE_HEADERS.some((name) => name in headers)) Object.assign(headers, trace);
  const effective = Math.min(deadline, callerDeadline);
  headers[DEADLINE_HEADER] = formatDeadline(effective);
  let body: string | undefined;
  if (typeof call.body === 'string') {
    body = call.body;
  } else if (call.body !== undefined && call.body !== null) {
    body = JSON.stringify(call.body);
    headers['content-type'] ??= 'application/json';
  }
  return { headers, body, deadline: effective };
}

async function readText(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > limit) {
      body.destroy();
      throw new MeshError(
        'UPSTREAM_RESPONSE_TOO_LARGE',
        `the response body is larger than the ${limit} bytes call holds; use ${DAPR_INVOKE_PREFIX}, which streams`,
        { details: [{ message: 'response too large', limit }] },
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length).toString('utf8');
}

/** The proxy's own error (it carries x-trellis-error): passed on with its status, body and code. */
function meshErrorReply(status: number, code: string, text: string): Reply {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { error: { code, message: text, details: [] } };
  }
  return { status, body, headers: { [MESH_ERROR_HEADER]: code } };
}

function errorReply(error: MeshError): Reply {
  // Anything else is a bug: thrown, so the server logs it and answers INTERNAL.
  if (error.code === 'INTERNAL') throw error;
  return { status: error.status, body: error.toJSON(), headers: { [MESH_ERROR_HEADER]: error.code } };
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/**
 * The request's headers in their order and case, without hop-by-hop ones (and those its Connection
 * header names), the admin token, and with the client appended to x-forwarded-for.
 */
function forwardHeaders(req: IncomingMessage, adminToken: string | undefined): string[] {
  const raw = req.rawHeaders;
  const named = new Set<string>();
  const connection = req.headers.connection;
  if (connection !== undefined)
    for (const token of connection.split(',')) named.add(token.trim().toLowerCase());
  const out: string[] = [];
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || lower === 'x-trellis-token') continue;
    if (lower === 'authorization' && adminToken !== undefined && isBearer(value, adminToken)) continue;
    if (lower === 'x-forwarded-for')
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else out.push(name, value);
  }
  const client = req.socket.remoteAddress;
  if (client !== undefined) forwardedFor = forwardedFor === undefined ? client : `${forwardedFor}, ${client}`;
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  return out;
}

function isBearer(value: string, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match !== null && match[1]!.trim() === token;
}
