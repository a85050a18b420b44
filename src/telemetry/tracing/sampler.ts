/**
 * Ratio sampling that every hop agrees on without talking: the decision for a new trace is a
 * function of its trace id. As in OpenTelemetry's consistent probability sampling, the randomness R
 * is the trace id's last 56 bits and the trace is sampled when R >= T, the rejection threshold
 * (1 - ratio) * 2^56. Spans of a sampled root carry `ot=th:<T>` in tracestate, from which the
 * collector recovers how many requests each span stands for (its adjusted count).
 */
import { hexStringToBytes } from './hex.ts';
import { TRACE_ID_BYTES } from './ids.ts';

const TWO_POW_56 = 2 ** 56;
/** R is read from bytes 9-15 of the trace id: 3 high bytes and 4 low ones. */
const R_AT = TRACE_ID_BYTES - 7;

export class RatioSampler {
  readonly ratio: number;
  /** `ot=th:…` for roots sampled at this ratio; '' at ratio 1 (every span counts once) or 0. */
  readonly traceState: string;
  private readonly thresholdHigh: number;
  private readonly thresholdLow: number;

  constructor(ratio: number) {
    if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`a sampling ratio is from 0 to 1, got ${ratio}`);
    this.ratio = ratio;
    const threshold = BigInt(Math.round((1 - ratio) * TWO_POW_56));
    this.thresholdHigh = Number(threshold >> 32n);
    this.thresholdLow = Number(threshold & 0xffffffffn);
    this.traceState = ratio > 0 && ratio < 1 ? `ot=th:${thresholdHex(threshold)}` : '';
  }

  /** The decision for a new trace whose id is bytes [at, at + 16) of `traceId`. */
  sample(traceId: Uint8Array, at = 0): boolean {
    const b = at + R_AT;
    const high = (traceId[b]! << 16) | (traceId[b + 1]! << 8) | traceId[b + 2]!;
    const low =
      traceId[b + 3]! * 0x1000000 + ((traceId[b + 4]! << 16) | (traceId[b + 5]! << 8) | traceId[b + 6]!);
    return high > this.thresholdHigh || (high === this.thresholdHigh && low >= this.thresholdLow);
  }

  /** `sample` for a trace id in hex (allocates; for SDKs and tests). */
  sampleHex(traceId: string): boolean {
    const bytes = new Uint8Array(TRACE_ID_BYTES);
    if (!hexStringToBytes(traceId, 0, TRACE_ID_BYTES, bytes, 0, 'any')) {
      throw new RangeError(`not a trace id: "${traceId}"`);
    }
    return this.sample(bytes);
  }
}

/** OpenTelemetry's encoding of T: 14 hex digits with trailing zeros removed (at least one digit). */
function thresholdHex(threshold: bigint): string {
  const hex = threshold.toString(16).padStart(14, '0').replace(/0+$/, '');
  return hex.length === 0 ? '0' : hex;
}

/**
 * How many requests a span sampled with this tracestate represents: 2^56 / (2^56 - T) when an
 * `ot=…;th:<hex>` member is present and valid, else 1.
 */
export function adjustedCount(traceState: string): number {
  if (traceState.length === 0) return 1;
  const member = traceState.startsWith('ot=') ? 0 : traceState.indexOf(',ot=');
  if (member === -1) return 1;
  const valueAt = member === 0 ? 3 : member + 4;
  const memberEnd = traceState.indexOf(',', valueAt);
  const value = traceState.slice(valueAt, memberEnd === -1 ? undefined : memberEnd);
  for (const field of value.split(';')) {
    if (!field.startsWith('th:')) continue;
    const hex = field.slice(3).trim();
    if (hex.length === 0 || hex.length > 14 || !/^[0-9a-f]+$/.test(hex)) return 1;
    const threshold = Number.parseInt(hex.padEnd(14, '0'), 16);
    const kept = TWO_POW_56 - threshold;
    return kept > 0 ? TWO_POW_56 / kept : 1;
  }
  return 1;
}
