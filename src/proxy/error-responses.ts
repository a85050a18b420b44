import { ERROR_CODES, type ErrorCode, type ErrorDetail } from '../core/index.ts';
import { reasonPhrase } from './http1/index.ts';

/**
 * A mesh-generated error response, built once: `{"error":{"code","message","details"}}` with
 * `x-trellis-error: CODE`, as a complete HTTP/1.1 message in two variants, one that keeps the client
 * connection open and one that closes it.
 */
export interface CannedResponse {
  readonly code: ErrorCode;
  readonly status: number;
  readonly keepAlive: Buffer;
  readonly close: Buffer;
}

/** `extraHeaders`: complete header lines to add, e.g. `allow: GET, HEAD\r\n`. */
export function cannedResponse(
  code: ErrorCode,
  message: string,
  details: ErrorDetail[] = [],
  extraHeaders = '',
): CannedResponse {
  const status = ERROR_CODES[code].status;
  const body = JSON.stringify({ error: { code, message, details } });
  const head =
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    extraHeaders +
    'content-type: application/json\r\n' +
    `x-trellis-error: ${code}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n`;
  return Object.freeze({
    code,
    status,
    keepAlive: Buffer.from(`${head}connection: keep-alive\r\n\r\n${body}`, 'utf8'),
    close: Buffer.from(`${head}connection: close\r\n\r\n${body}`, 'utf8'),
  });
}

/** The errors whose message does not depend on the service (the others are built per cluster). */
export const MESH_ERRORS = Object.freeze({
  noRoute: cannedResponse('NO_ROUTE', 'no route matches the request'),
  timeout: cannedResponse('UPSTREAM_TIMEOUT', 'the upstream did not answer in time'),
  idleTimeout: cannedResponse('UPSTREAM_TIMEOUT', 'the exchange was idle for longer than the idle timeout'),
  connectFailed: cannedResponse('UPSTREAM_CONNECT_FAILED', 'could not connect to an upstream instance'),
  reset: cannedResponse('UPSTREAM_RESET', 'the upstream closed the connection before it answered'),
  notAService: cannedResponse('NO_ROUTE', 'the request does not name a service'),
  badDaprTarget: cannedResponse('NOT_FOUND', 'expected /v1.0/invoke/{service}/method/{path}'),
});

/** Per-service errors, precomputed when the cluster is created. */
export interface ClusterErrors {
  readonly noHealthy: CannedResponse;
  readonly circuitOpen: CannedResponse;
  readonly overflow: CannedResponse;
}

export function clusterErrors(service: string): ClusterErrors {
  const details = [{ path: 'service', message: service }];
  return Object.freeze({
    noHealthy: cannedResponse('NO_HEALTHY_UPSTREAM', `service "${service}" has no healthy instance`, details),
    circuitOpen: cannedResponse(
      'CIRCUIT_OPEN',
      `every circuit breaker of service "${service}" is open`,
      details,
    ),
    overflow: cannedResponse('OVERFLOW', `service "${service}" is at its concurrency limit`, details),
  });
}
