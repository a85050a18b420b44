/**
 * The admin token: when set, every API path and the OTLP receiver (/v1/traces: the proxies and the
 * SDK send the token with their spans) need `Authorization: Bearer <token>` or
 * `X-Trellis-Token: <token>`; probes (/healthz, /readyz), /metrics and the dashboard stay open. Binding beyond loopback
 * without a token is refused, so a fresh `trellis start` is never an open admin API on a network.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { MeshError } from '../core/index.ts';

const PROTECTED_PREFIXES = ['/api/', '/v1.0/'];
const PROTECTED_PATHS = new Set(['/api', '/v1.0', '/v1/traces']);

/**
 * Judged on the path as the router reads it: it skips empty segments, so `//api/v1/…` and
 * `/v1/traces/` reach the same handlers as `/api/v1/…` and `/v1/traces`, and need the token too.
 */
export function requiresToken(path: string): boolean {
  const routed = `/${path
    .split('/')
    .filter((segment) => segment.length > 0)
    .join('/')}`;
  return PROTECTED_PATHS.has(routed) || PROTECTED_PREFIXES.some((prefix) => routed.startsWith(prefix));
}

/** Returns a checker that throws UNAUTHORIZED unless the request carries the token. */
export function createTokenCheck(adminToken: string): (req: IncomingMessage) => void {
  // Comparing fixed-length digests keeps timingSafeEqual from leaking the token's length.
  const expected = digest(adminToken);
  return (req) => {
    const presented = presentedToken(req);
    if (presented === undefined) {
      throw new MeshError(
        'UNAUTHORIZED',
        'an admin token is required: send "Authorization: Bearer <token>" or "X-Trellis-Token: <token>"',
      );
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      throw new MeshError('UNAUTHORIZED', 'the admin token is wrong');
    }
  };
}

function presentedToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match) return match[1]!.trim();
  }
  const header = req.headers['x-trellis-token'];
  const token = Array.isArray(header) ? header[0] : header;
  return token ? token.trim() : undefined;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.toLowerCase() === '::ffff:127.0.0.1';
  return false;
}

/** Throws BAD_REQUEST when `host` is reachable beyond this machine and no admin token is set. */
export function assertSafeBinding(host: string, adminToken: string | undefined): void {
  if (adminToken || isLoopbackHost(host)) return;
  throw new MeshError(
    'BAD_REQUEST',
    `refusing to listen on ${host} without an admin token: the admin API would be open to the network. ` +
      'Set an admin token (control.adminToken, at least 16 characters) or listen on 127.0.0.1.',
    {
      details: [
        { path: 'control.adminToken', message: 'required when control.host is not a loopback address' },
      ],
    },
  );
}
