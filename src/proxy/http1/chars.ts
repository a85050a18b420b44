/** Byte classes of RFC 9110/9112, as lookup tables the parsers index with a byte. */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~";

/** tchar: the characters of a token (method, header name, transfer coding, connection option). */
export const TCHAR = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    TCHAR_SYMBOLS.includes(String.fromCharCode(c)),
);

/** Bytes allowed in a header value: HTAB, SP, VCHAR and obs-text; no CTL (NUL, CR, LF, DEL, …). */
export const FIELD_CHAR = table((c) => c === HTAB || (c >= 0x20 && c !== 0x7f));

/** Bytes allowed in a request-target: visible ASCII only (no space, CTL or non-ASCII). */
export const TARGET_CHAR = table((c) => c > 0x20 && c < 0x7f);

/** Bytes allowed in a Host value: reg-name / IP-literal / IPv4 plus port (RFC 3986 authority without userinfo). */
export const HOST_CHAR = table(
  (c) =>
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "-._~!$&'()*+,;=:[]%".includes(String.fromCharCode(c)),
);

/** Hex digit value, or 255 for anything else. */
export const HEX_VALUE = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let c = 0; c < 10; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(value: string, offset: number, length?: number): number;
}

/** buf[start, end) as a latin1 string, without toString()'s argument handling. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Buffer).latin1Slice(start, end);
}

/** Writes a latin1 string at `offset`; returns the number of bytes written. */
export function writeLatin1(buf: Buffer, value: string, offset: number): number {
  return (buf as unknown as Latin1Buffer).latin1Write(value, offset, value.length);
}

/**
 * Case-insensitive comparison of buf[start, start + lit.length) with a lowercase ASCII literal made of
 * letters, digits and '-'. OR-ing 0x20 folds A-Z onto a-z and leaves '-' and digits alone; no other
 * byte folds onto a letter, digit or '-' except CR (onto '-'), which the callers have already excluded.
 */
export function equalsLower(buf: Buffer, start: number, end: number, lit: string): boolean {
  const n = lit.length;
  if (end - start !== n) return false;
  for (let i = 0; i < n; i++) {
    if ((buf[start + i] | 0x20) !== lit.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether every character of `text` is in `chars` (a character beyond latin1 never is). */
export function allIn(chars: Uint8Array, text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || chars[c] !== 1) return false;
  }
  return true;
}
