/**
 * One access-log record per request, filled by the proxy as the exchange goes (see access-log.ts,
 * which writes them). Apart from the writer so the proxy's request path does not load pino when the
 * access log is off.
 */
import type { Direction } from './names.ts';

export type AccessLogDestination = 'off' | 'stdout' | (string & {});

/**
 * One request. Every field is always present (so records keep one shape); an optional field that
 * is `undefined` is left out of the line.
 */
export interface AccessRecord {
  direction: Direction;
  /** W3C trace id (32 hex digits) and this hop's span id (16 hex digits). */
  traceId: string | undefined;
  spanId: string | undefined;
  method: string;
  /** The request target's path (and query) as received. */
  path: string;
  /** The route that matched (gateway), if any. */
  route: string | undefined;
  service: string | undefined;
  /** `address:port` of the last endpoint tried. */
  endpoint: string | undefined;
  /** The status sent to the client; 0 when no response head was sent. */
  status: number;
  /** From the first byte of the request head to the last byte of the response (rounded to µs when logged). */
  durationMs: number;
  /** Request body bytes received from the client, as framed on the wire (chunk sizes included). */
  bytesIn: number;
  /** Response bytes written to the client, its head included (as nginx's `$bytes_sent`). */
  bytesOut: number;
  /** Upstream attempts (1 without retries, 0 when none was made). */
  attempts: number;
  /** The mesh error code the proxy answered with (`NO_HEALTHY_UPSTREAM`, `UPSTREAM_TIMEOUT`…). */
  error: string | undefined;
}

export function createAccessRecord(direction: Direction): AccessRecord {
  return {
    direction,
    traceId: undefined,
    spanId: undefined,
    method: '',
    path: '',
    route: undefined,
    service: undefined,
    endpoint: undefined,
    status: 0,
    durationMs: 0,
    bytesIn: 0,
    bytesOut: 0,
    attempts: 0,
    error: undefined,
  };
}

/** Clears a record's per-request fields (the direction stays). */
export function resetAccessRecord(record: AccessRecord): void {
  record.traceId = undefined;
  record.spanId = undefined;
  record.method = '';
  record.path = '';
  record.route = undefined;
  record.service = undefined;
  record.endpoint = undefined;
  record.status = 0;
  record.durationMs = 0;
  record.bytesIn = 0;
  record.bytesOut = 0;
  record.attempts = 0;
  record.error = undefined;
}
