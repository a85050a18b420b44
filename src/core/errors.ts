/**
 * Every error Trellis raises on purpose is a MeshError with a stable code. The table below is the
 * single source of truth for codes, HTTP statuses and whether a caller may retry; docs/errors.md
 * mirrors it and a test keeps the two in sync.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, retryable: false, summary: 'The request or configuration failed validation.' },
  INVALID_CONFIG: { status: 400, retryable: false, summary: 'A configuration file failed validation.' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, summary: 'The request body exceeds the size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, summary: 'The request body is not JSON.' },
  UNAUTHORIZED: {
    status: 401,
    retryable: false,
    summary: 'An admin token is required and was missing or wrong.',
  },
  NOT_FOUND: { status: 404, retryable: false, summary: 'No such resource or route.' },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false, summary: 'The path exists but not for this method.' },
  SERVICE_NOT_FOUND: { status: 404, retryable: false, summary: 'No service with that name is registered.' },
  INSTANCE_NOT_FOUND: { status: 404, retryable: false, summary: 'No instance with that id is registered.' },
  CONFLICT: {
    status: 409,
    retryable: true,
    summary: 'A compare-on-revision write lost a race; read again and retry.',
  },
  LEASE_NOT_FOUND: { status: 404, retryable: false, summary: 'The lease expired or was revoked.' },
  COMPACTED: {
    status: 410,
    retryable: false,
    summary: 'The requested revision is older than the retained history; list again.',
  },
  STORE_UNAVAILABLE: { status: 503, retryable: true, summary: 'The store did not answer.' },
  STORE_CLOSED: { status: 503, retryable: false, summary: 'The store was closed.' },
  NOT_READY: { status: 503, retryable: true, summary: 'The control plane is starting or stopping.' },
  CONTROL_PLANE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary: 'The control plane could not be reached.',
  },
  INTERNAL: { status: 500, retryable: false, summary: 'An unexpected error; the message says where.' },
  NO_ROUTE: { status: 404, retryable: false, summary: 'No proxy route matches the request.' },
  NO_HEALTHY_UPSTREAM: {
    status: 503,
    retryable: true,
    summary: 'The service has no healthy (or degraded) instance to send the request to.',
  },
  CIRCUIT_OPEN: {
    status: 503,
    retryable: true,
    summary: "Every eligible instance's circuit breaker is open.",
  },
  OVERFLOW: {
    status: 503,
    retryable: true,
    summary: "The service's concurrency limit (in flight and pending) is full.",
  },
  UPSTREAM_TIMEOUT: {
    status: 504,
    retryable: true,
    summary: 'The upstream did not answer within the request, per-try or idle timeout.',
  },
  UPSTREAM_CONNECT_FAILED: {
    status: 502,
    retryable: true,
    summary: 'No connection could be made to an upstream instance.',
  },
  UPSTREAM_RESET: {
    status: 502,
    retryable: true,
    summary: 'The upstream closed or reset the connection before it answered.',
  },
  BAD_GATEWAY: { status: 502, retryable: false, summary: 'The upstream sent a malformed HTTP response.' },
  UPGRADE_NOT_SUPPORTED: {
    status: 501,
    retryable: false,
    summary: 'A protocol upgrade (WebSocket) was asked of a service the proxy reaches over HTTP/2 (h2c).',
  },
  UPSTREAM_RESPONSE_TOO_LARGE: {
    status: 502,
    retryable: false,
    summary: 'The callee answered a call with a body larger than the call holds in memory.',
  },
} as const satisfies Record<string, { status: number; retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `instances.0.port`; empty for the whole input. */
  path?: string;
  message: string;
  [extra: string]: unknown;
}

const BRAND = Symbol.for('trellis.MeshError');

export class MeshError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: ErrorDetail[];
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'MeshError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = options.details ?? [];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export function isMeshError(value: unknown): value is MeshError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Wraps anything thrown into a MeshError, keeping the original as `cause`. */
export function toMeshError(value: unknown): MeshError {
  if (isMeshError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new MeshError('INTERNAL', message, { cause: value });
}
