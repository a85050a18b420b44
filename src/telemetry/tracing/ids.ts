import { isAllZero, toHex } from './hex.ts';

export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

/** Where trace and span ids come from; tests inject a deterministic one. */
export interface IdSource {
  /** Writes `count` random bytes, never all zero (an all-zero id is invalid), into `out` at `at`. */
  fill(out: Uint8Array, at: number, count: number): void;
}

/**
 * Random ids drawn from a pool refilled per `poolBytes` (341 requests' trace and span ids per 8 KiB),
 * so an id costs a few byte copies. The bytes come from Math.random, as OpenTelemetry JS's own id
 * generator's do: trace ids must be unique and unpredictable enough to sample on, not secret, and
 * node:crypto would cost every proxy ~1 MiB of resident memory for them.
 */
export class RandomIdSource implements IdSource {
  private readonly pool: Buffer;
  private position: number;

  constructor(poolBytes = 8192) {
    // Whole 32-bit words: fillRandom writes four bytes per Math.random call.
    this.pool = Buffer.allocUnsafe((Math.max(poolBytes, TRACE_ID_BYTES) + 3) & ~3);
    this.position = this.pool.length;
  }

  fill(out: Uint8Array, at: number, count: number): void {
    do {
      if (this.position + count > this.pool.length) {
        fillRandom(this.pool);
        this.position = 0;
      }
      const pool = this.pool;
      const from = this.position;
      for (let i = 0; i < count; i++) out[at + i] = pool[from + i]!;
      this.position += count;
    } while (isAllZero(out, at, at + count));
  }
}

/**
 * Fills `out` (a whole number of 32-bit words) with Math.random's bits, 32 per call (~15 µs per
 * 8 KiB, ~45 ns per request).
 */
function fillRandom(out: Buffer): void {
  for (let i = 0; i < out.length; i += 4) {
    const bits = (Math.random() * 0x1_0000_0000) >>> 0;
    out[i] = bits;
    out[i + 1] = bits >>> 8;
    out[i + 2] = bits >>> 16;
    out[i + 3] = bits >>> 24;
  }
}

/** A new trace id as 32 lowercase hex digits (allocates; for SDKs and tests, not the proxy path). */
export function newTraceId(ids: IdSource): string {
  const bytes = new Uint8Array(TRACE_ID_BYTES);
  ids.fill(bytes, 0, TRACE_ID_BYTES);
  return toHex(bytes);
}

/** A new span id as 16 lowercase hex digits (allocates). */
export function newSpanId(ids: IdSource): string {
  const bytes = new Uint8Array(SPAN_ID_BYTES);
  ids.fill(bytes, 0, SPAN_ID_BYTES);
  return toHex(bytes);
}
