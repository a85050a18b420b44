/**
 * Hex digits to bytes and back without intermediate strings: W3C ids are parsed straight out of a
 * header (string or Buffer slice) into bytes, and written straight into an outgoing header buffer.
 */

/** Value of a lowercase hex digit by char code, -1 otherwise (W3C ids are lowercase only). */
const LOWER = new Int8Array(256).fill(-1);
/** For parsers that inline the lookup; never written after this module loads. */
export const LOWER_HEX_VALUES: Readonly<Int8Array> = LOWER;
/** The same, accepting uppercase too (B3 and OTLP/JSON ids). */
const ANY_CASE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) {
  LOWER[0x30 + i] = i;
  ANY_CASE[0x30 + i] = i;
}
for (let i = 0; i < 6; i++) {
  LOWER[0x61 + i] = 10 + i;
  ANY_CASE[0x61 + i] = 10 + i;
  ANY_CASE[0x41 + i] = 10 + i;
}

/** Char codes of the high and low hex digit of each byte value. */
const HIGH_DIGIT = new Uint8Array(256);
const LOW_DIGIT = new Uint8Array(256);
const DIGITS = '0123456789abcdef';
for (let b = 0; b < 256; b++) {
  HIGH_DIGIT[b] = DIGITS.charCodeAt(b >> 4);
  LOW_DIGIT[b] = DIGITS.charCodeAt(b & 15);
}

export type HexCase = 'lower' | 'any';

function table(hexCase: HexCase): Int8Array {
  return hexCase === 'lower' ? LOWER : ANY_CASE;
}

/**
 * Reads `count` bytes written as 2·count hex digits from `src` at `at` into `out` at `outAt`.
 * Returns false (leaving `out` partly written) on a character that is not a hex digit.
 */
export function hexStringToBytes(
  src: string,
  at: number,
  count: number,
  out: Uint8Array,
  outAt: number,
  hexCase: HexCase = 'lower',
): boolean {
  const values = table(hexCase);
  for (let i = 0; i < count; i++) {
    const a = src.charCodeAt(at + 2 * i);
    const b = src.charCodeAt(at + 2 * i + 1);
    // Past the end charCodeAt is NaN, and NaN > 0x7f is false: `a | b` turns NaN into 0, which no
    // table entry maps to a digit other than '\0' (-1), so both cases fall out below.
    if ((a | b) > 0x7f) return false;
    const hi = values[a | 0]!;
    const lo = values[b | 0]!;
    if ((hi | lo) < 0) return false;
    out[outAt + i] = (hi << 4) | lo;
  }
  return true;
}

/** Writes bytes [from, to) of `bytes` as lowercase hex into `out` at `at`; returns the end offset. */
export function writeHex(bytes: Uint8Array, from: number, to: number, out: Uint8Array, at: number): number {
  let o = at;
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    out[o] = HIGH_DIGIT[b]!;
    out[o + 1] = LOW_DIGIT[b]!;
    o += 2;
  }
  return o;
}

/** Lowercase hex of bytes [from, to). */
export function toHex(bytes: Uint8Array, from = 0, to = bytes.length): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('hex');
}

export function isAllZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** True when `value` is exactly `length` hex digits (either case). */
export function isHex(value: string, length: number): boolean {
  if (value.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code > 0x7f || ANY_CASE[code]! < 0) return false;
  }
  return true;
}
