/**
 * Slow, obviously correct reference parsers for the fuzz tests: they work on whole latin1 strings
 * with regular expressions and share no code with src/proxy/http1. Errors are not classified; the
 * fuzz compares acceptance and the parsed result.
 */

export type RefHead =
  | { kind: 'incomplete' }
  | { kind: 'error' }
  | {
      kind: 'ok';
      end: number;
      method: string;
      target: string;
      version: '1.0' | '1.1';
      headers: Array<[string, string]>;
      framing: 'none' | 'content-length' | 'chunked';
      contentLength: number;
      keepAlive: boolean;
      upgrade: string | undefined;
      expectContinue: boolean;
      host: string | undefined;
    };

export type RefBody = { kind: 'incomplete' } | { kind: 'error' } | { kind: 'ok'; end: number };

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const TOKEN_RE = new RegExp(`^${TOKEN}$`);
const REQUEST_LINE = new RegExp(`^(${TOKEN}) ([\\x21-\\x7e]+) (HTTP/[0-9]\\.[0-9])$`);
const FIELD_LINE = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]%]*$/;
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const CHUNK_LINE = new RegExp(
  `^([0-9a-fA-F]{1,16})((?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))?)*)$`,
);
const TRAILER_LINE = new RegExp(`^${TOKEN}:[\\t\\x20-\\x7e\\x80-\\xff]*$`);

const ERROR = { kind: 'error' } as const;
const INCOMPLETE = { kind: 'incomplete' } as const;

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

export function referenceRequest(input: string, maxHeadSize = 64 * 1024, maxHeaders = 100): RefHead {
  let start = 0;
  let empty = 0;
  while (input.startsWith('\r\n', start)) {
    if (++empty > 8) return ERROR;
    start += 2;
  }
  const blank = input.indexOf('\r\n\r\n', start);
  if (blank < 0) return INCOMPLETE;
  const end = blank + 4;
  if (end - start > maxHeadSize) return ERROR;
  const [requestLine, ...fieldLines] = input.slice(start, blank).split('\r\n');
  if ([requestLine, ...fieldLines].some((l) => /[\r\n]/.test(l))) return ERROR;
  const rl = REQUEST_LINE.exec(requestLine);
  if (rl === null) return ERROR;
  const [, method, target, versionText] = rl;
  if (versionText !== 'HTTP/1.1' && versionText !== 'HTTP/1.0') return ERROR;
  const version = versionText === 'HTTP/1.1' ? '1.1' : '1.0';
  if (fieldLines.length > maxHeaders) return ERROR;
  const headers: Array<[string, string]> = [];
  for (const line of fieldLines) {
    const m = FIELD_LINE.exec(line);
    if (m === null || !FIELD_VALUE.test(m[2])) return ERROR;
    headers.push([m[1], m[2]]);
  }
  const values = (name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

  const hosts = values('host');
  if (hosts.length > 1 || (version === '1.1' && hosts.length === 0)) return ERROR;
  if (hosts.length === 1 && !HOST.test(hosts[0])) return ERROR;

  const lengths = values('content-length');
  if (lengths.length > 1) return ERROR;
  if (
    lengths.length === 1 &&
    (!/^[0-9]+$/.test(lengths[0]) || Number(lengths[0]) > Number.MAX_SAFE_INTEGER)
  ) {
    return ERROR;
  }
  const codings = values('transfer-encoding');
  if (codings.length > 1) return ERROR;
  if (codings.length === 1 && codings[0].toLowerCase() !== 'chunked') return ERROR;
  const chunked = codings.length === 1;
  if (chunked && (lengths.length === 1 || version === '1.0')) return ERROR;

  const options: string[] = [];
  for (const value of values('connection')) {
    for (const element of value.split(',').map(trimOws)) {
      if (element === '') continue;
      if (!TOKEN_RE.test(element)) return ERROR;
      const lower = element.toLowerCase();
      if (['host', 'content-length', 'transfer-encoding'].includes(lower)) return ERROR;
      options.push(lower);
    }
  }
  const close = options.includes('close');
  const keepAlive = version === '1.1' ? !close : !close && options.includes('keep-alive');
  const upgrades = values('upgrade');
  const upgrade =
    version === '1.1' && options.includes('upgrade') && upgrades.length > 0 ? upgrades[0] : undefined;
  const expect = values('expect');
  return {
    kind: 'ok',
    end,
    method,
    target,
    version,
    headers,
    framing: chunked ? 'chunked' : lengths.length === 1 ? 'content-length' : 'none',
    contentLength: lengths.length === 1 ? Number(lengths[0]) : -1,
    keepAlive,
    upgrade,
    expectContinue: version === '1.1' && expect.some((v) => v.toLowerCase() === '100-continue'),
    host: hosts[0],
  };
}

/** A chunked body starting at `start`; `end` is just past the final CRLF. */
export function referenceChunked(
  input: string,
  start: number,
  maxExtension = 4096,
  maxTrailers = 16 * 1024,
): RefBody {
  let i = start;
  for (;;) {
    const lineEnd = input.indexOf('\r\n', i);
    if (lineEnd < 0) return INCOMPLETE;
    const line = input.slice(i, lineEnd);
    const m = CHUNK_LINE.exec(line);
    if (m === null || /[\r\n]/.test(line)) return ERROR;
    if (m[2].length > maxExtension) return ERROR;
    const size = Number.parseInt(m[1], 16);
    if (size > Number.MAX_SAFE_INTEGER) return ERROR;
    i = lineEnd + 2;
    if (size === 0) break;
    if (input.length < i + size + 2) return INCOMPLETE;
    if (input.slice(i + size, i + size + 2) !== '\r\n') return ERROR;
    i += size + 2;
  }
  const trailerStart = i - 1; // the decoder counts the last-chunk line's LF as the first trailer byte
  for (;;) {
    const lineEnd = input.indexOf('\r\n', i);
    if (lineEnd < 0) return INCOMPLETE;
    const line = input.slice(i, lineEnd);
    if (line === '') {
      const end = lineEnd + 2;
      return end - trailerStart > maxTrailers ? ERROR : { kind: 'ok', end };
    }
    if (/[\r\n]/.test(line) || !TRAILER_LINE.test(line)) return ERROR;
    i = lineEnd + 2;
  }
}
