import {
  type BodyDecoder,
  createBodyDecoder,
  createRequestParser,
  createResponseParser,
  isHttpParseError,
  type RequestParserOptions,
  type RequestSnapshot,
  type ResponseSnapshot,
} from '../../../../src/proxy/http1/index.ts';

/** Deterministic PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Outcome<T> =
  | { kind: 'ok'; end: number; head: T }
  | { kind: 'need-more' }
  | { kind: 'error'; code: string; status: number };

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Cuts `input` at the given offsets into separately allocated pieces, as sockets deliver them. */
export function pieces(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < input.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, input.length]) {
    out.push(Buffer.from(input.subarray(from, p)));
    from = p;
  }
  return out;
}

export function randomCuts(rand: () => number, length: number, max = 6): number[] {
  const n = Math.floor(rand() * (max + 1));
  return Array.from({ length: n }, () => Math.floor(rand() * length));
}

/** Feeds the pieces to a fresh request parser until a head completes; `end` is an offset into the whole input. */
export function feedRequest(
  input: Buffer,
  cuts: readonly number[] = [],
  options: RequestParserOptions = {},
): Outcome<RequestSnapshot> {
  const parser = createRequestParser(options);
  let consumed = 0;
  try {
    for (const piece of pieces(input, cuts)) {
      const r = parser.execute(piece, 0);
      if (r >= 0) return { kind: 'ok', end: consumed + r, head: parser.snapshot() };
      consumed += piece.length;
    }
    return { kind: 'need-more' };
  } catch (error) {
    if (isHttpParseError(error)) return { kind: 'error', code: error.code, status: error.status };
    throw error;
  }
}

export function feedResponse(
  input: Buffer,
  method: string,
  cuts: readonly number[] = [],
): Outcome<ResponseSnapshot> {
  const parser = createResponseParser();
  let consumed = 0;
  try {
    for (const piece of pieces(input, cuts)) {
      const r = parser.execute(piece, 0, method);
      if (r >= 0) return { kind: 'ok', end: consumed + r, head: parser.snapshot() };
      consumed += piece.length;
    }
    return { kind: 'need-more' };
  } catch (error) {
    if (isHttpParseError(error)) return { kind: 'error', code: error.code, status: error.status };
    throw error;
  }
}

export type BodyOutcome =
  | { kind: 'done'; end: number }
  | { kind: 'need-more' }
  | { kind: 'error'; code: string };

/** Runs a body decoder over input[start..] cut into pieces; `end` is an offset into the whole input. */
export function feedBody(
  decoder: BodyDecoder,
  input: Buffer,
  start: number,
  cuts: readonly number[] = [],
): BodyOutcome {
  let offset = start;
  try {
    for (const piece of pieces(input.subarray(start), cuts)) {
      const { consumed, done } = decoder.consume(piece, 0);
      offset += consumed;
      if (done) return { kind: 'done', end: offset };
      if (consumed !== piece.length) throw new Error('a decoder that is not done must take every byte');
    }
    return { kind: 'need-more' };
  } catch (error) {
    if (isHttpParseError(error)) return { kind: 'error', code: error.code };
    throw error;
  }
}

export function bodyOf(head: { framing: string; contentLength: number }): BodyDecoder {
  return createBodyDecoder(head);
}
