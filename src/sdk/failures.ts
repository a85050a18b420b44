/** What undici's errors mean for the mesh: a retriable attempt failure, or an error for the caller. */
import { type AttemptFailure, MeshError } from '../core/index.ts';
import { originOf, type SdkEndpoint } from './cluster.ts';

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const RESETS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

/** Our own mistakes in building the request: never the endpoint's fault, never retried. */
const BAD_REQUESTS = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
]);

/**
 * `connect-failure` or `reset` for failures of the endpoint; a MeshError (BAD_GATEWAY for a malformed
 * response, UPSTREAM_TIMEOUT for the idle timeout, BAD_REQUEST for a request undici refused) otherwise; undefined when the error
 * is not undici's (e.g. the caller's request body stream failed), which the caller gets as it is.
 */
export function classifyError(error: unknown): AttemptFailure | MeshError | undefined {
  const { code, name, message } = (error ?? {}) as { code?: unknown; name?: unknown; message?: string };
  if (name === 'HTTPParserError') {
    return new MeshError('BAD_GATEWAY', `malformed response from the upstream: ${message}`, { cause: error });
  }
  if (typeof code !== 'string') return undefined;
  if (CONNECT_FAILURES.has(code)) return 'connect-failure';
  if (RESETS.has(code)) return 'reset';
  // The idle timeout (headersTimeout is the policy's idleMs): the proxy answers it at once, unretried.
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new MeshError('UPSTREAM_TIMEOUT', 'the exchange was idle for longer than the idle timeout', {
      cause: error,
    });
  }
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new MeshError('BAD_GATEWAY', `malformed response from the upstream: ${message}`, { cause: error });
  }
  if (BAD_REQUESTS.has(code)) {
    return new MeshError('BAD_REQUEST', `mesh.fetch: the request cannot be sent: ${message}`, {
      cause: error,
    });
  }
  // Other system errors on the socket.
  if (/^E[A-Z]+$/.test(code)) return 'reset';
  return undefined;
}

export interface AttemptRecord {
  endpoint: SdkEndpoint;
  outcome: number | AttemptFailure;
  error?: unknown;
}

const FAILURE_CODES = {
  'connect-failure': 'UPSTREAM_CONNECT_FAILED',
  reset: 'UPSTREAM_RESET',
  timeout: 'UPSTREAM_TIMEOUT',
} as const;

/** The error for a call whose last attempt failed with `failure`, listing every attempt. */
export function attemptsFailed(
  service: string,
  failure: AttemptFailure,
  attempts: AttemptRecord[],
): MeshError {
  const last = attempts[attempts.length - 1];
  const reason = describe(failure, last?.error);
  const tried = attempts.map((attempt) => attempt.endpoint.id).join(', ');
  const message =
    `${service}: ${reason}` +
    (attempts.length > 1 ? ` (after ${attempts.length} attempts: ${tried})` : last ? ` (${tried})` : '');
  return new MeshError(FAILURE_CODES[failure], message, {
    details: attempts.map((attempt) => ({
      message:
        typeof attempt.outcome === 'number'
          ? `HTTP ${attempt.outcome}`
          : describe(attempt.outcome, attempt.error),
      endpoint: attempt.endpoint.id,
      address: originOf(attempt.endpoint),
      outcome: attempt.outcome,
    })),
    cause: last?.error,
  });
}

/** The call's deadline passed. */
export function deadlineExceeded(service: string, attempts: AttemptRecord[], before = false): MeshError {
  const message = before
    ? `${service}: the deadline had passed before the call started`
    : `${service}: no response before the deadline` +
      (attempts.length > 0 ? ` (${attempts.map((attempt) => attempt.endpoint.id).join(', ')})` : '');
  return new MeshError('UPSTREAM_TIMEOUT', message, {
    details: attempts.map((attempt) => ({
      message: typeof attempt.outcome === 'number' ? `HTTP ${attempt.outcome}` : attempt.outcome,
      endpoint: attempt.endpoint.id,
      address: originOf(attempt.endpoint),
      outcome: attempt.outcome,
    })),
  });
}

function describe(failure: AttemptFailure, error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  switch (failure) {
    case 'connect-failure':
      return `cannot connect${typeof code === 'string' ? ` (${code})` : ''}`;
    case 'reset':
      return `the connection was closed before a response${typeof code === 'string' ? ` (${code})` : ''}`;
    case 'timeout':
      return 'no response within the per-try timeout';
  }
}
