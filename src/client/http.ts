/**
 * The shared plumbing of the control-plane client: URLs, the admin token, and turning transport
 * failures and `{"error": …}` replies back into MeshErrors.
 */
import { ERROR_CODES, type ErrorCode, type ErrorDetail, MeshError } from '../core/index.ts';

/** Validates a control-plane URL and strips trailing slashes, so paths can be appended. */
export function normalizeBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MeshError(
      'BAD_REQUEST',
      `invalid control-plane URL "${url}": expected e.g. http://127.0.0.1:7400`,
      {
        details: [{ path: 'control', message: 'expected an http:// or https:// URL' }],
      },
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MeshError(
      'BAD_REQUEST',
      `invalid control-plane URL "${url}": only http and https are supported`,
      {
        details: [{ path: 'control', message: 'expected an http:// or https:// URL' }],
      },
    );
  }
  return parsed.href.replace(/\/+$/, '');
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A request that never got a response: refused, reset, timed out, DNS failure. */
export function unavailable(baseUrl: string, error: unknown): MeshError {
  const err = error as { name?: string; code?: string; message?: string };
  let reason = err.message || String(error);
  if (err.name === 'TimeoutError') reason = 'no answer in time';
  else if (err.code && !reason.includes(err.code)) reason = `${err.code}: ${reason}`;
  return new MeshError(
    'CONTROL_PLANE_UNAVAILABLE',
    `cannot reach the control plane at ${baseUrl}: ${reason}`,
    {
      details: [{ message: reason, url: baseUrl }],
      cause: error,
    },
  );
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'UNAUTHORIZED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  410: 'COMPACTED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'NOT_READY',
};

/** Rebuilds the server's MeshError from a non-2xx reply; a reply that is not ours keeps its status in the message. */
export function errorFromResponse(
  reply: { status: number; text: string },
  method: string,
  url: string,
): MeshError {
  const { status, text } = reply;
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = undefined;
  }
  const error = (payload as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (error && typeof error.code === 'string' && error.code in ERROR_CODES) {
    const details = Array.isArray(error.details) ? (error.details as ErrorDetail[]) : [];
    const message = typeof error.message === 'string' ? error.message : `${method} ${url} failed`;
    return new MeshError(error.code as ErrorCode, message, { details });
  }
  const code = STATUS_CODES[status] ?? 'INTERNAL';
  const snippet = text.trim().slice(0, 200);
  return new MeshError(code, `${method} ${url} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`, {
    details: [{ message: `HTTP ${status}`, status }],
  });
}
