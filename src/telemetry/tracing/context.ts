/**
 * Trace context on the wire: W3C `traceparent` / `tracestate` (https://www.w3.org/TR/trace-context/)
 * and, on input only, Zipkin B3 (single `b3` header and multi `x-b3-*`). Parsing writes into a
 * reusable ParentContext: no regular expressions, no splits, and from a Buffer slice no strings.
 */
import { hexStringToBytes, isAllZero, isHex, LOWER_HEX_VALUES, toHex, writeHex } from './hex.ts';
import { SPAN_ID_BYTES, TRACE_ID_BYTES } from './ids.ts';

export const FLAG_SAMPLED = 0x01;

/** What the caller decided about sampling: inherit it, or (Deferred) decide by ratio. */
export const Decision = { Deferred: 0, Sampled: 1, NotSampled: 2 } as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/** Length of a version-00 traceparent value: `00-` + 32 + `-` + 16 + `-` + 2. */
export const TRACEPARENT_LENGTH = 55;
/** W3C: propagate at least 512 characters of tracestate, at most 32 list members. */
export const DEFAULT_MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;
/** W3C: when truncating, first drop members longer than this. */
const LONG_TRACESTATE_MEMBER = 128;

const DASH = 0x2d;
const SPAN_AT = TRACE_ID_BYTES;

/**
 * The context a request arrived with, reused across requests: `ids` holds the trace id (bytes 0-15)
 * and the parent span id (16-23) when `valid`. A B3 header can carry a decision without ids
 * (`b3: 0`), so `decision` is meaningful even when `valid` is false.
 */
export class ParentContext {
  readonly ids = new Uint8Array(TRACE_ID_BYTES + SPAN_ID_BYTES);
  valid = false;
  /** Trace flags as received (W3C); only FLAG_SAMPLED is acted on. */
  flags = 0;
  decision: Decision = Decision.Deferred;

  reset(): void {
    this.valid = false;
    this.flags = 0;
    this.decision = Decision.Deferred;
  }

  traceId(): string {
    return toHex(this.ids, 0, TRACE_ID_BYTES);
  }

  spanId(): string {
    return toHex(this.ids, SPAN_AT, SPAN_AT + SPAN_ID_BYTES);
  }
}

/**
 * Parses a traceparent value from `input[start, end)` (a string, or bytes such as a Buffer holding a
 * request head) into `into`. Returns false, leaving `into.valid` false, when the value is invalid:
 * wrong length or separators, a non-lowercase-hex digit, version ff, an all-zero trace or span id, or
 * a version-00 value with trailing data. Versions above 00 are parsed as 00 is, ignoring what follows
 * the first 55 characters when it starts with `-` (the spec's forward compatibility rule).
 */
export function parseTraceparent(
  input: string | Uint8Array,
  into: ParentContext,
  start = 0,
  end = input.length,
): boolean {
  into.reset();
  const length = end - start;
  if (length < TRACEPARENT_LENGTH || end > input.length) return false;
  const word = readTraceparent(input, start, length, into.ids);
  if (word < 0) return false;
  const version = word >> 8;
  if (version === 0xff || (version === 0 && length !== TRACEPARENT_LENGTH)) return false;
  const flags = word & 0xff;
  into.valid = true;
  into.flags = flags;
  into.decision = (flags & FLAG_SAMPLED) !== 0 ? Decision.Sampled : Decision.NotSampled;
  return true;
}

/**
 * The separators and the 52 hex digits of a traceparent in one pass, ids into `ids`: returns
 * version << 8 | flags, or -1 when a separator or digit is wrong or an id is all zero.
 */
function readTraceparent(src: string | Uint8Array, start: number, length: number, ids: Uint8Array): number {
  if (
    codeAt(src, start + 2) !== DASH ||
    codeAt(src, start + 35) !== DASH ||
    codeAt(src, start + 52) !== DASH
  ) {
    return -1;
  }
  if (length > TRACEPARENT_LENGTH && codeAt(src, start + TRACEPARENT_LENGTH) !== DASH) return -1;
  const version = hexByte(src, start);
  const flags = hexByte(src, start + 53);
  if ((version | flags) < 0) return -1;
  if (readIds(src, start + 3, ids, 0, TRACE_ID_BYTES) <= 0) return -1;
  if (readIds(src, start + 36, ids, SPAN_AT, SPAN_AT + SPAN_ID_BYTES) <= 0) return -1;
  return (version << 8) | flags;
}

/**
 * Hex digit pairs from `src` at `p` into `ids[from, to)`: returns the bytes OR-ed together, so 0 when
 * all are zero and negative when a digit is wrong.
 */
function readIds(src: string | Uint8Array, p: number, ids: Uint8Array, from: number, to: number): number {
  let any = 0;
  for (let i = from; i < to; i++, p += 2) {
    const byte = hexByte(src, p);
    ids[i] = byte;
    any |= byte;
  }
  return any;
}

/** The byte the two lowercase hex digits at `p` spell; negative when either is not one. */
function hexByte(src: string | Uint8Array, p: number): number {
  const values = LOWER_HEX_VALUES;
  if (typeof src !== 'string') return (values[src[p]!]! << 4) | values[src[p + 1]!]!;
  const a = src.charCodeAt(p);
  const b = src.charCodeAt(p + 1);
  // No code above 0x7f is a digit, and one above 0xff would index past the table.
  return (a | b) > 0x7f ? -1 : (values[a]! << 4) | values[b]!;
}

function codeAt(src: string | Uint8Array, p: number): number {
  return typeof src === 'string' ? src.charCodeAt(p) : src[p]!;
}

/**
 * Writes `00-<trace id>-<span id>-<flags>` (55 bytes) into `out` at `at`, ids taken from bytes;
 * returns the end offset.
 */
export function writeTraceparent(
  traceId: Uint8Array,
  traceAt: number,
  spanId: Uint8Array,
  spanAt: number,
  sampled: boolean,
  out: Uint8Array,
  at: number,
): number {
  out[at] = 0x30;
  out[at + 1] = 0x30;
  out[at + 2] = DASH;
  let o = writeHex(traceId, traceAt, traceAt + TRACE_ID_BYTES, out, at + 3);
  out[o++] = DASH;
  o = writeHex(spanId, spanAt, spanAt + SPAN_ID_BYTES, out, o);
  out[o++] = DASH;
  out[o++] = 0x30;
  out[o++] = sampled ? 0x31 : 0x30;
  return o;
}

/** `00-<traceId>-<spanId>-0x` from hex ids (allocates; for SDKs, tests and logs). */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/**
 * `value` when it is within the W3C bounds (at most `maxLength` characters and 32 members),
 * otherwise truncated as the spec suggests: members over 128 characters go first, then members
 * from the end. Returns '' when nothing fits.
 */
export function boundTraceState(value: string, maxLength = DEFAULT_MAX_TRACESTATE_LENGTH): string {
  if (value.length <= maxLength && countMembers(value) <= MAX_TRACESTATE_MEMBERS) return value;
  const members = value
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member.length > 0)
    .slice(0, MAX_TRACESTATE_MEMBERS);
  let size = joinedLength(members);
  while (size > maxLength && members.length > 0) {
    const long = members.findIndex((member) => member.length > LONG_TRACESTATE_MEMBER);
    members.splice(long === -1 ? members.length - 1 : long, 1);
    size = joinedLength(members);
  }
  return members.join(',');
}

function countMembers(value: string): number {
  let count = 1;
  for (let i = value.indexOf(','); i !== -1; i = value.indexOf(',', i + 1)) count++;
  return count;
}

function joinedLength(members: string[]): number {
  let size = Math.max(0, members.length - 1);
  for (const member of members) size += member.length;
  return size;
}

/**
 * Parses a single `b3` header: `{traceId}-{spanId}[-{sampled}[-{parentSpanId}]]` with a 16 or 32
 * hex digit trace id, or a bare sampling state (`0`, `1`, `d`). Sampled `1` and debug `d` sample,
 * `0` does not, no state defers the decision. Returns false when the value is malformed.
 */
export function parseB3Single(value: string, into: ParentContext): boolean {
  into.reset();
  const v = value.trim();
  if (v.length === 1) {
    const decision = b3Decision(v);
    if (decision === undefined) return false;
    into.decision = decision;
    return true;
  }
  const firstDash = v.indexOf('-');
  if (firstDash !== 16 && firstDash !== 32) return false;
  if (!readB3TraceId(v, 0, firstDash, into.ids)) return false;
  const spanEnd = firstDash + 1 + 2 * SPAN_ID_BYTES;
  if (v.length < spanEnd || !hexStringToBytes(v, firstDash + 1, SPAN_ID_BYTES, into.ids, SPAN_AT, 'any')) {
    return false;
  }
  let decision: Decision = Decision.Deferred;
  if (v.length > spanEnd) {
    if (v.charCodeAt(spanEnd) !== DASH || v.length < spanEnd + 2) return false;
    const state = b3Decision(v[spanEnd + 1]!);
    if (state === undefined) return false;
    decision = state;
    const parentAt = spanEnd + 2;
    if (v.length !== parentAt) {
      // The parent span id is the caller's business; it only has to be well formed.
      if (v.charCodeAt(parentAt) !== DASH || !isHex(v.slice(parentAt + 1), 2 * SPAN_ID_BYTES)) return false;
    }
  }
  return acceptB3Ids(into, decision);
}

/** The multi-header B3 form (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`). */
export interface B3Headers {
  traceId?: string;
  spanId?: string;
  sampled?: string;
  flags?: string;
}

/**
 * Parses multi-header B3. Ids need both trace and span id; `x-b3-flags: 1` (debug) samples;
 * `x-b3-sampled` is `1`/`true` or `0`/`false`. A sampling state alone is a decision without ids.
 * Returns false when nothing usable is present or a present field is malformed.
 */
export function parseB3Multi(headers: B3Headers, into: ParentContext): boolean {
  into.reset();
  let decision: Decision = Decision.Deferred;
  if (headers.flags?.trim() === '1') decision = Decision.Sampled;
  else if (headers.sampled !== undefined) {
    const state = headers.sampled.trim().toLowerCase();
    if (state === '1' || state === 'true') decision = Decision.Sampled;
    else if (state === '0' || state === 'false') decision = Decision.NotSampled;
    else return false;
  }
  if (headers.traceId === undefined || headers.spanId === undefined) {
    if (decision === Decision.Deferred) return false;
    into.decision = decision;
    return true;
  }
  const traceId = headers.traceId.trim();
  const spanId = headers.spanId.trim();
  if (!readB3TraceId(traceId, 0, traceId.length, into.ids)) return false;
  if (spanId.length !== 2 * SPAN_ID_BYTES) return false;
  if (!hexStringToBytes(spanId, 0, SPAN_ID_BYTES, into.ids, SPAN_AT, 'any')) return false;
  return acceptB3Ids(into, decision);
}

/** Marks the ids read into `into` valid, with `decision`; false when either id is all zero. */
function acceptB3Ids(into: ParentContext, decision: Decision): boolean {
  if (isAllZero(into.ids, 0, TRACE_ID_BYTES) || isAllZero(into.ids, SPAN_AT, SPAN_AT + SPAN_ID_BYTES)) {
    return false;
  }
  into.valid = true;
  into.decision = decision;
  into.flags = decision === Decision.Sampled ? FLAG_SAMPLED : 0;
  return true;
}

/** A 64-bit B3 trace id becomes the low half of a 128-bit one (the high bytes zero). */
function readB3TraceId(value: string, start: number, end: number, ids: Uint8Array): boolean {
  const digits = end - start;
  if (digits === 2 * TRACE_ID_BYTES) return hexStringToBytes(value, start, TRACE_ID_BYTES, ids, 0, 'any');
  if (digits !== TRACE_ID_BYTES) return false;
  ids.fill(0, 0, TRACE_ID_BYTES / 2);
  return hexStringToBytes(value, start, TRACE_ID_BYTES / 2, ids, TRACE_ID_BYTES / 2, 'any');
}

function b3Decision(state: string): Decision | undefined {
  if (state === '1' || state === 'd') return Decision.Sampled;
  if (state === '0') return Decision.NotSampled;
  return undefined;
}
