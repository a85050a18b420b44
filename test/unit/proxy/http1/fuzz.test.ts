import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  createBodyDecoder,
  type RequestSnapshot,
} from '../../../../src/proxy/http1/index.ts';
import {
  type BodyOutcome,
  feedBody,
  feedRequest,
  feedResponse,
  latin1,
  prng,
  randomCuts,
} from './helpers.ts';
import { type RefBody, referenceChunked, referenceRequest } from './reference.ts';

/**
 * Seeded fuzzing (the same cases on every run): valid messages are generated, mutated (byte flips,
 * insertions of interesting bytes and lines, deletions, duplicated lines, truncations) and fed whole,
 * in random pieces and byte by byte. The parser may only throw HttpParseError, must give the same
 * verdict however the bytes are split, and must agree with the slow reference parser in
 * ./reference.ts: it accepts exactly what the reference accepts, with the same head and framing.
 */

const ITERATIONS = 20_000;

type Rand = () => number;
const pick = <T>(rand: Rand, list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const int = (rand: Rand, max: number) => Math.floor(rand() * max);

function randomCase(rand: Rand, s: string): string {
  return [...s].map((c) => (rand() < 0.3 ? c.toUpperCase() : c)).join('');
}

function ows(rand: Rand): string {
  return pick(rand, ['', '', '', ' ', '\t', '  ']);
}

function chunkedBody(rand: Rand): string {
  let body = '';
  const chunks = int(rand, 4);
  for (let i = 0; i < chunks; i++) {
    const data = 'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, 1 + int(rand, 30));
    let size = data.length.toString(16);
    if (rand() < 0.2) size = `00${size}`;
    if (rand() < 0.3) size = size.toUpperCase();
    const ext = rand() < 0.2 ? pick(rand, [';a', ';a=b', ' ; a = "q\\"x"', ';x;y=1']) : '';
    body += `${size}${ext}\r\n${data}\r\n`;
  }
  body += rand() < 0.2 ? '000;end\r\n' : '0\r\n';
  if (rand() < 0.2) body += `X-Trailer:${ows(rand)}v\r\n`;
  return `${body}\r\n`;
}

function validRequest(rand: Rand): string {
  const method = pick(rand, ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'M-SEARCH']);
  const target = pick(rand, [
    '/',
    '/a/b?c=d&e=%20',
    '*',
    'http://h.example/x',
    '/search?q=mesh#frag',
    '/~user/',
  ]);
  const http10 = rand() < 0.15;
  const headers: string[] = [];
  if (!http10 || rand() < 0.5)
    headers.push(
      `${randomCase(rand, 'host')}:${ows(rand)}${pick(rand, ['a.b', 'svc:8080', '[::1]', ''])}${ows(rand)}`,
    );
  const extra = [
    'User-Agent: fuzz/1.0',
    'Accept: */*',
    'X-Forwarded-For: 10.0.0.1',
    'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    `Connection:${ows(rand)}${pick(rand, ['keep-alive', 'close', 'Upgrade', 'x-a, keep-alive', ', close,'])}`,
    'Upgrade: websocket',
    'Expect: 100-continue',
    'X-A: 1',
    'X-Empty:',
    'Cookie: a=b; c=d\xe9',
  ];
  for (const h of extra) if (rand() < 0.3) headers.splice(int(rand, headers.length + 1), 0, h);
  let body = '';
  const framing = rand();
  if (framing < 0.3) {
    body = 'x'.repeat(int(rand, 12));
    headers.push(
      `${randomCase(rand, 'content-length')}:${ows(rand)}${rand() < 0.1 ? '0' : ''}${body.length}${ows(rand)}`,
    );
  } else if (framing < 0.55 && !http10) {
    headers.push(
      `${randomCase(rand, 'transfer-encoding')}:${ows(rand)}${randomCase(rand, 'chunked')}${ows(rand)}`,
    );
    body = chunkedBody(rand);
  }
  const lead = rand() < 0.05 ? '\r\n' : '';
  const head = `${lead}${method} ${target} HTTP/1.${http10 ? 0 : 1}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
  const next = rand() < 0.3 ? 'GET /next HTTP/1.1\r\nHost: n\r\n\r\n' : '';
  return head + body + next;
}

const INTERESTING = [
  '\r',
  '\n',
  '\r\n',
  '\0',
  ' ',
  '\t',
  ':',
  ',',
  ';',
  '0',
  '5',
  'f',
  'x',
  '\x0b',
  '\x7f',
  '\xff',
  '-',
  '"',
  '\r\n\r\n',
  '\r\n ',
  ' \r\n',
  'chunked',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: gzip, chunked\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: 0\r\n',
  'content-length: 00\r\n',
  'Host: h\r\n',
  'Connection: close, x-a\r\n',
  'Connection: content-length\r\n',
  'HTTP/1.0',
  'HTTP/1.1',
  'ffffffffffffffffff',
];

function mutate(rand: Rand, input: string): string {
  let s = input;
  const ops = 1 + int(rand, 3);
  // Most rules live in the head; aim there more often than at the body.
  const headEnd = Math.max(1, s.indexOf('\r\n\r\n') + 4);
  const pos = () => (rand() < 0.8 ? int(rand, headEnd) : int(rand, s.length + 1));
  for (let i = 0; i < ops; i++) {
    const op = rand();
    const p = pos();
    if (op < 0.3) {
      const c = rand() < 0.5 ? String.fromCharCode(int(rand, 256)) : pick(rand, INTERESTING).slice(0, 1);
      s = s.slice(0, p) + c + s.slice(p + 1);
    } else if (op < 0.6) {
      const ins = rand() < 0.3 ? String.fromCharCode(int(rand, 256)) : pick(rand, INTERESTING);
      s = s.slice(0, p) + ins + s.slice(p);
    } else if (op < 0.8) {
      s = s.slice(0, p) + s.slice(p + 1 + int(rand, 4));
    } else if (op < 0.92) {
      const lines = s.split('\r\n');
      const l = int(rand, lines.length);
      lines.splice(l, 0, lines[l]);
      s = lines.join('\r\n');
    } else {
      s = s.slice(0, int(rand, s.length + 1));
    }
  }
  return s;
}

function pickFields(h: Omit<RequestSnapshot, 'headers'> & { headers: Array<[string, string]> }) {
  return {
    method: h.method,
    target: h.target,
    version: h.version,
    headers: h.headers,
    framing: h.framing,
    contentLength: h.contentLength,
    keepAlive: h.keepAlive,
    upgrade: h.upgrade,
    expectContinue: h.expectContinue,
    host: h.host,
  };
}

function referenceBody(text: string, start: number, framing: string, contentLength: number): RefBody {
  if (framing === 'chunked') return referenceChunked(text, start);
  const length = framing === 'content-length' ? contentLength : 0;
  return text.length - start >= length ? { kind: 'ok', end: start + length } : { kind: 'incomplete' };
}

function checkBody(actual: BodyOutcome, ref: RefBody, context: string): void {
  if (actual.kind === 'done')
    expect({ ref, context }).toEqual({ ref: { kind: 'ok', end: actual.end }, context });
  if (ref.kind === 'ok')
    expect({ actual, context }).toEqual({ actual: { kind: 'done', end: ref.end }, context });
  if (ref.kind === 'error') expect({ kind: actual.kind, context }).toEqual({ kind: 'error', context });
}

describe('http1 fuzz', () => {
  it(`request heads and bodies: ${ITERATIONS} mutated messages agree with the reference`, () => {
    const rand = prng(0x7e11);
    const stats = { ok: 0, error: 0, needMore: 0, bodies: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const valid = validRequest(rand);
      const text = rand() < 0.1 ? valid : mutate(rand, valid);
      const buf = latin1(text);
      const context = JSON.stringify(text);

      const whole = feedRequest(buf);
      expect({ split: feedRequest(buf, randomCuts(rand, buf.length, 8)), context }).toEqual({
        split: whole,
        context,
      });
      if (i % 16 === 0) {
        const bytes = Array.from({ length: buf.length }, (_, k) => k);
        expect({ bytewise: feedRequest(buf, bytes), context }).toEqual({ bytewise: whole, context });
      }

      const ref = referenceRequest(text);
      if (whole.kind === 'ok') {
        stats.ok++;
        expect({ ref: ref.kind, context }).toEqual({ ref: 'ok', context });
        if (ref.kind !== 'ok') continue;
        expect({ end: whole.end, head: pickFields(whole.head), context }).toEqual({
          end: ref.end,
          head: pickFields(ref),
          context,
        });
        const expected = referenceBody(text, whole.end, whole.head.framing, whole.head.contentLength);
        checkBody(feedBody(createBodyDecoder(whole.head), buf, whole.end), expected, context);
        checkBody(
          feedBody(
            createBodyDecoder(whole.head),
            buf,
            whole.end,
            randomCuts(rand, buf.length - whole.end, 6),
          ),
          expected,
          context,
        );
        stats.bodies++;
      } else {
        if (whole.kind === 'error') stats.error++;
        else stats.needMore++;
        expect({ ref: ref.kind, context }).not.toEqual({ ref: 'ok', context });
        if (ref.kind === 'error') expect({ kind: whole.kind, context }).toEqual({ kind: 'error', context });
      }
    }
    // The generator must exercise both sides of the rules.
    expect(stats.ok).toBeGreaterThan(ITERATIONS / 10);
    expect(stats.error).toBeGreaterThan(ITERATIONS / 4);
  });

  it('chunked bodies: mutated bodies agree with the reference, whole, split and byte by byte', () => {
    const rand = prng(0xc4a7);
    let done = 0;
    for (let i = 0; i < 10_000; i++) {
      const valid = chunkedBody(rand) + (rand() < 0.5 ? 'NEXT' : '');
      const text = rand() < 0.15 ? valid : mutateBody(rand, valid);
      const buf = latin1(text);
      const context = JSON.stringify(text);
      const whole = feedBody(new ChunkedDecoder(), buf, 0);
      expect({
        split: feedBody(new ChunkedDecoder(), buf, 0, randomCuts(rand, buf.length, 8)),
        context,
      }).toEqual({
        split: whole,
        context,
      });
      if (i % 16 === 0) {
        const bytes = Array.from({ length: buf.length }, (_, k) => k);
        expect({ bytewise: feedBody(new ChunkedDecoder(), buf, 0, bytes), context }).toEqual({
          bytewise: whole,
          context,
        });
      }
      checkBody(whole, referenceChunked(text, 0), context);
      if (whole.kind === 'done') done++;
    }
    expect(done).toBeGreaterThan(1000);
  });

  it('response heads: mutated heads only ever fail with HttpParseError and split consistently', () => {
    const rand = prng(0x5e5);
    const heads = [
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      'HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    ];
    for (let i = 0; i < 5_000; i++) {
      const text = mutate(rand, pick(rand, heads));
      const buf = latin1(text);
      const method = pick(rand, ['GET', 'HEAD', 'POST']);
      const whole = feedResponse(buf, method);
      const split = feedResponse(buf, method, randomCuts(rand, buf.length, 8));
      expect({ split, text }).toEqual({ split: whole, text });
      if (whole.kind === 'error') expect(whole.status).toBe(502);
      if (whole.kind === 'ok') {
        expect(text.slice(0, whole.end).endsWith('\r\n\r\n')).toBe(true);
        expect(text.slice(0, whole.end - 2)).not.toMatch(/[^\r]\n|\r[^\n]|\0/);
      }
    }
  });
});

function mutateBody(rand: Rand, input: string): string {
  let s = input;
  const ops = 1 + int(rand, 2);
  for (let i = 0; i < ops; i++) {
    const p = int(rand, s.length + 1);
    const op = rand();
    if (op < 0.35) s = s.slice(0, p) + pick(rand, INTERESTING).slice(0, 1) + s.slice(p + 1);
    else if (op < 0.65)
      s = s.slice(0, p) + pick(rand, [...INTERESTING, '\r\n0\r\n', ';e=1', ' ']) + s.slice(p);
    else if (op < 0.9) s = s.slice(0, p) + s.slice(p + 1 + int(rand, 3));
    else s = s.slice(0, p);
  }
  return s;
}
