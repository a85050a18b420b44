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
 * so an id costs a few byte copies. The bytes come from xorshift128 (Marsaglia), 32 bits a step,
 * seeded from Math.random: the same family as V8's Math.random (xorshift128+), as OpenTelemetry JS's
 * own id generator uses: trace ids must be unique and unpredictable enough to sample on, not secret,
 * and node:crypto would cost every proxy ~1 MiB of resident memory for them. Its arithmetic stays
 * in 32-bit integers, so a refill allocates nothing; Math.random boxes each double it returns to
 * code that is not optimized, which a refill once per ~341 requests seldom is (2,048 boxes a refill,
 * ~96 bytes of garbage per request).
 */
export class RandomIdSource implements IdSource {
  private readonly pool: Buffer;
  private position: number;
  private readonly state = new Int32Array(4);

  constructor(poolBytes = 8192) {
    // Whole 32-bit words: each step of the generator writes four bytes.
    this.pool = Buffer.allocUnsafe((Math.max(poolBytes, TRACE_ID_BYTES) + 3) & ~3);
    this.position = this.pool.length;
    const state = this.state;
    do {
      for (let i = 0; i < 4; i++) state[i] = (Math.random() * 0x1_0000_0000) | 0;
    } while ((state[0]! | state[1]! | state[2]! | state[3]!) === 0);
  }

  fill(out: Uint8Array, at: number, count: number): void {
    do {
      if (this.position + count > this.pool.length) {
        fillRandom(this.pool, this.state);
        this.position = 0;
      }
      const pool = this.pool;
      const from = this.position;
      for (let i = 0; i < count; i++) out[at + i] = pool[from + i]!;
      this.position += count;
    } while (isAllZero(out, at, at + count));
  }
}

/** Fills `out` (a whole number of 32-bit words) from the xorshift128 generator in `state`. */
function fillRandom(out: Buffer, state: Int32Array): void {
  let x = state[0]!;
  let y = state[1]!;
  let z = state[2]!;
  let w = state[3]!;
  for (let i = 0; i < out.length; i += 4) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    out[i] = w;
    out[i + 1] = w >> 8;
    out[i + 2] = w >> 16;
    out[i + 3] = w >> 24;
  }
  state[0] = x;
  state[1] = y;
  state[2] = z;
  state[3] = w;
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
