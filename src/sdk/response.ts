import { STATUS_CODES } from 'node:http';
import { type Dispatcher, Headers, Response } from 'undici';
import { MeshError } from '../core/index.ts';

/** Statuses whose responses have no body, as `new Response()` insists. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * undici's `request()` result as a WHATWG Response (status, headers, text(), json(), a body
 * stream), without copying the body: it streams from the connection as the caller reads it.
 */
export function toResponse(data: Dispatcher.ResponseData, method: string): Response {
  const status = data.statusCode;
  if (status < 200 || status > 599) {
    data.body.destroy();
    throw new MeshError(
      'BAD_GATEWAY',
      `the upstream answered with status ${status}, which fetch cannot carry`,
    );
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(data.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.append(name, value);
  }
  const init = { status, statusText: STATUS_CODES[status] ?? '', headers };
  if (NULL_BODY.has(status) || method === 'HEAD') {
    void data.body.dump().catch(() => {});
    return new Response(null, init);
  }
  return new Response(data.body, init);
}
