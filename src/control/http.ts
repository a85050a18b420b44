/**
 * Request and response plumbing for the control plane: JSON bodies with a size limit measured
 * while streaming, JSON replies, and the one place a thrown error becomes an HTTP response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isMeshError, MeshError, toMeshError } from '../core/index.ts';

/** Once a body is over the limit, this much more is read and thrown away before the socket is cut. */
const DRAIN_LIMIT_BYTES = 4 * 1024 * 1024;

/** What a handler returns; `undefined` means the handler wrote the response itself (e.g. SSE). */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export function json(body: unknown, status = 200, headers?: Record<string, string>): Reply {
  return { status, body, headers };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const payload = JSON.stringify(body);
  res.statusCode = status;
  if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.setHeader('Cache-Control', 'no-store');
  res.end(payload);
}

/**
 * Turns anything thrown into `{"error": {"code", "message", "details"}}` with the MeshError's
 * status. Errors that are not MeshErrors are bugs: they are logged and answered as 500 INTERNAL.
 */
export function sendError(res: ServerResponse, error: unknown, logger: Logger, req?: IncomingMessage): void {
  const meshError = toMeshError(error);
  if (!isMeshError(error) || meshError.status >= 500) {
    const level = isMeshError(error) ? 'warn' : 'error';
    logger[level](
      { err: error, method: req?.method, url: req?.url },
      'request failed: %s',
      meshError.message,
    );
  }
  if (res.headersSent) {
    // Mid-stream (SSE): nothing sensible can be sent any more; cut the connection.
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  const allow = meshError.details.find((detail) => Array.isArray(detail.allow))?.allow as
    | string[]
    | undefined;
  if (meshError.code === 'METHOD_NOT_ALLOWED' && allow) headers.Allow = allow.join(', ');
  if (meshError.code === 'UNAUTHORIZED') headers['WWW-Authenticate'] = 'Bearer realm="trellis"';
  sendJson(res, meshError.status, meshError.toJSON(), headers);
}

/** True when the request carries a body (a non-zero Content-Length or a chunked transfer). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

const FORM_TYPE = 'application/x-www-form-urlencoded';

function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function unsupportedType(contentType: string): MeshError {
  return new MeshError(
    'UNSUPPORTED_MEDIA_TYPE',
    `expected a JSON body (application/json), got "${contentType}"`,
  );
}

function isJsonType(contentType: string): boolean {
  const mediaType = mediaTypeOf(contentType);
  return (
    mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'))
  );
}

/**
 * Reads and parses a JSON body. Returns `undefined` for an empty body. A body with a non-JSON
 * Content-Type is UNSUPPORTED_MEDIA_TYPE (a missing Content-Type is accepted, as older clients
 * send none); more than `maxBytes` is PAYLOAD_TOO_LARGE, decided as the bytes arrive; invalid JSON
 * is BAD_REQUEST.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (!hasBody(req)) return undefined;
  const contentType = req.headers['content-type'];
  // `curl -d` labels every body as a form: such a body is taken as JSON if it parses as JSON.
  const labelledAsForm = contentType !== undefined && mediaTypeOf(contentType) === FORM_TYPE;
  if (contentType !== undefined && contentType !== '' && !labelledAsForm && !isJsonType(contentType)) {
    throw unsupportedType(contentType);
  }
  const raw = await readRawBody(req, maxBytes);
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (error) {
    if (labelledAsForm) throw unsupportedType(contentType);
    throw new MeshError('BAD_REQUEST', `malformed JSON body: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): MeshError {
  return new MeshError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${maxBytes} bytes`, {
    details: [{ message: 'body too large', limit: maxBytes }],
  });
}

/**
 * Reads a body as bytes, whatever its type (the OTLP receiver takes protobuf). More than `maxBytes`
 * is PAYLOAD_TOO_LARGE, decided from Content-Length or as the bytes arrive; the rest is read and
 * dropped (up to a bound) so the client sees the 413 rather than a reset.
 */
export function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    discard(req);
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        discard(req);
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new MeshError('BAD_REQUEST', `could not read the request body: ${error.message}`, { cause: error }),
      );
    };
    const onClose = () => {
      cleanup();
      reject(new MeshError('BAD_REQUEST', 'the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Keeps reading and dropping an oversized body so the client can read our 413 instead of seeing a
 * reset; a client that keeps sending past DRAIN_LIMIT_BYTES has its connection cut.
 */
function discard(req: IncomingMessage): void {
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}
