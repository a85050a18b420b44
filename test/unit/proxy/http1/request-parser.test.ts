import { describe, expect, it } from 'vitest';
import {
  ChunkedDecoder,
  createBodyDecoder,
  createRequestParser,
  HEADER_STRIDE,
  HeaderKind,
  HttpParseError,
  isHttpParseError,
} from '../../../../src/proxy/http1/index.ts';
import { feedRequest, latin1, prng, randomCuts } from './helpers.ts';

const GET =
  'GET /search?q=mesh HTTP/1.1\r\n' +
  'Host: api.example.com:8080\r\n' +
  'User-Agent: curl/8.5.0\r\n' +
  'Accept: */*\r\n' +
  'X-Forwarded-For: 10.0.0.1\r\n' +
  'x-forwarded-for: 10.0.0.2\r\n' +
  'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n' +
  '\r\n';

function codeOf(raw: string, options = {}): string | null {
  const r = feedRequest(latin1(raw), [], options);
  return r.kind === 'error' ? r.code : null;
}

describe('request parser: happy paths', () => {
  it('parses a GET head and reports where it ends', () => {
    const parser = createRequestParser();
    const buf = latin1(GET);
    expect(parser.execute(buf)).toBe(buf.length);
    expect(parser.method).toBe('GET');
    expect(parser.target).toBe('/search?q=mesh');
    expect(parser.version).toBe('1.1');
    expect(parser.host).toBe('api.example.com:8080');
    expect(parser.framing).toBe('none');
    expect(parser.contentLength).toBe(-1);
    expect(parser.keepAlive).toBe(true);
    expect(parser.upgrade).toBeUndefined();
    expect(parser.expectContinue).toBe(false);
    expect(parser.xForwardedFor).toBe('10.0.0.1, 10.0.0.2');
    expect(parser.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(parser.headerCount).toBe(6);
    expect(parser.headerList()[1]).toEqual(['User-Agent', 'curl/8.5.0']);
    expect(parser.getHeader('user-agent')).toBe('curl/8.5.0');
    expect(parser.getHeader('x-missing')).toBeUndefined();
    expect(parser.headerKind(0)).toBe(HeaderKind.Host);
    expect(parser.headerKind(1)).toBe(HeaderKind.Other);
    expect(parser.kindMask).toBe(HeaderKind.Host | HeaderKind.XForwardedFor | HeaderKind.Traceparent);
    expect(parser.rawHead().toString('latin1')).toBe(GET);
    expect(parser.startLineEnd).toBe('GET /search?q=mesh HTTP/1.1\r\n'.length);
    expect(parser.headersEnd).toBe(GET.length - 2);
  });

  it('records header offsets relative to the head start, values without surrounding whitespace', () => {
    const raw = 'GET / HTTP/1.1\r\nHost:  a.b \t\r\nX-Empty:\r\nX-Tab:\tv\r\n\r\n';
    const buf = latin1(`xx${raw}`);
    const parser = createRequestParser();
    expect(parser.execute(buf, 2)).toBe(buf.length);
    expect(parser.base).toBe(2);
    const h = parser.headers;
    const line = (i: number) => raw.slice(h[i * HEADER_STRIDE], h[i * HEADER_STRIDE + 3]);
    expect(line(0)).toBe('Host:  a.b');
    expect(parser.headerValue(0)).toBe('a.b');
    expect(parser.headerValue(1)).toBe('');
    expect(parser.headerValue(2)).toBe('v');
    expect(parser.host).toBe('a.b');
  });

  it('frames a POST by Content-Length and leaves the body bytes after the returned offset', () => {
    const head = 'POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Length: 11\r\n\r\n';
    const buf = latin1(`${head}hello world`);
    const parser = createRequestParser();
    const end = parser.execute(buf);
    expect(end).toBe(head.length);
    expect(parser.framing).toBe('content-length');
    expect(parser.contentLength).toBe(11);
    const body = createBodyDecoder(parser);
    expect(body.consume(buf, end)).toEqual({ consumed: 11, done: true });
  });

  it('frames a chunked request', () => {
    const head = 'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';
    const body = '5\r\nhello\r\n0\r\n\r\n';
    const parser = createRequestParser();
    const buf = latin1(head + body);
    const end = parser.execute(buf);
    expect(parser.framing).toBe('chunked');
    expect(parser.contentLength).toBe(-1);
    expect(new ChunkedDecoder().consume(buf, end)).toEqual({ consumed: body.length, done: true });
  });

  it('applies the keep-alive defaults of HTTP/1.0 and 1.1', () => {
    const ok = (raw: string) => {
      const r = feedRequest(latin1(raw));
      if (r.kind !== 'ok') throw new Error(JSON.stringify(r));
      return r.head;
    };
    expect(ok('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.0\r\n\r\n').host).toBeUndefined();
    expect(ok('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n').keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\n\r\n').keepAlive).toBe(true);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n').keepAlive).toBe(false);
    expect(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n').keepAlive).toBe(
      false,
    );
  });

  it('recognises an upgrade only with Connection: upgrade and an Upgrade header, in HTTP/1.1', () => {
    const ws =
      'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const head = (raw: string) => {
      const r = feedRequest(latin1(raw));
      if (r.kind !== 'ok') throw new Error(JSON.stringify(r));
      return r.head;
    };
    expect(head(ws).upgrade).toBe('websocket');
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').upgrade).toBeUndefined();
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n').upgrade).toBeUndefined();
    expect(
      head('GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade,
    ).toBeUndefined();
  });

  it('reports Expect: 100-continue (HTTP/1.1 only)', () => {
    const raw = 'PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n';
    const r = feedRequest(latin1(raw));
    expect(r.kind === 'ok' && r.head.expectContinue).toBe(true);
    const old = feedRequest(latin1('PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n'));
    expect(old.kind === 'ok' && old.head.expectContinue).toBe(false);
  });

  it('parses pipelined requests from one buffer, one after the other, with their bodies', () => {
    const a = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
    const b = 'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc';
    const c = 'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n';
    const d = 'DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';
    const buf = latin1(a + b + c + d);
    const parser = createRequestParser();
    const seen: string[] = [];
    let offset = 0;
    while (offset < buf.length) {
      const end = parser.execute(buf, offset);
      expect(end).toBeGreaterThan(offset);
      seen.push(`${parser.method} ${parser.target} ${parser.framing} ${parser.keepAlive}`);
      const { consumed, done } = createBodyDecoder(parser).consume(buf, end);
      expect(done).toBe(true);
      offset = end + consumed;
    }
    expect(offset).toBe(buf.length);
    expect(seen).toEqual([
      'GET /a none true',
      'POST /b content-length true',
      'POST /c chunked true',
      'DELETE /d none false',
    ]);
  });

  it('gives the same result whatever way the bytes are split', () => {
    const raw = latin1(
      '\r\nPOST /api/v1/items?x=1 HTTP/1.1\r\nHost: svc.local\r\nContent-Length: 4\r\nConnection: keep-alive, x-hop\r\n' +
        'x-hop: 1\r\nUpgrade: h2c\r\nExpect: 100-continue\r\n\r\nbody',
    );
    const whole = feedRequest(raw);
    expect(whole.kind).toBe('ok');
    for (let cut = 1; cut < raw.length; cut++) expect(feedRequest(raw, [cut])).toEqual(whole);
    expect(
      feedRequest(
        raw,
        Array.from({ length: raw.length }, (_, i) => i),
      ),
    ).toEqual(whole);
    const rand = prng(7);
    for (let i = 0; i < 300; i++) expect(feedRequest(raw, randomCuts(rand, raw.length, 10))).toEqual(whole);
  });

  it('copies a head that arrives in pieces into its own buffer', () => {
    const parser = createRequestParser();
    const one = latin1('GET /x HTTP/1.1\r\nHo');
    const two = latin1('st: h\r\n\r\nNEXT');
    expect(parser.execute(one)).toBe(-1);
    expect(parser.execute(two)).toBe(two.length - 4);
    expect(parser.buf).not.toBe(one);
    expect(parser.buf).not.toBe(two);
    expect(parser.rawHead().toString()).toBe('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    one.fill(0);
    two.fill(0);
    expect(parser.host).toBe('h');
    expect(parser.headerValue(0)).toBe('h');
  });

  it('points into the caller buffer when the head arrives in one piece', () => {
    const parser = createRequestParser();
    const buf = latin1('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    parser.execute(buf);
    expect(parser.buf).toBe(buf);
  });

  it('ignores up to 8 empty lines before the request line, even split between pieces', () => {
    const raw = `${'\r\n'.repeat(8)}GET / HTTP/1.1\r\nHost: h\r\n\r\n`;
    const whole = feedRequest(latin1(raw));
    expect(whole).toMatchObject({ kind: 'ok', end: raw.length, head: { target: '/' } });
    for (let cut = 1; cut < 20; cut++) expect(feedRequest(latin1(raw), [cut])).toEqual(whole);
    expect(codeOf(`\r\n${raw}`)).toBe('LEADING_EMPTY_LINES');
    expect(codeOf('\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n')).toBe('BARE_LF');
    expect(codeOf('\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n')).toBe('BARE_CR');
    const parser = createRequestParser();
    expect(parser.execute(latin1('\r\n\r'))).toBe(-1);
    const rest = latin1('\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(parser.execute(rest)).toBe(rest.length);
  });

  it('keeps one parser across requests and re-throws after an error', () => {
    const parser = createRequestParser();
    expect(
      parser.execute(latin1('GET /1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n')),
    ).toBeGreaterThan(0);
    expect(parser.xForwardedFor).toBe('1.1.1.1');
    expect(parser.execute(latin1('GET /2 HTTP/1.1\r\nHost: b\r\n\r\n'))).toBeGreaterThan(0);
    expect(parser.target).toBe('/2');
    expect(parser.host).toBe('b');
    expect(parser.xForwardedFor).toBeUndefined();
    expect(parser.headerCount).toBe(1);
    let first: unknown;
    try {
      parser.execute(latin1('GET /3 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'));
    } catch (error) {
      first = error;
    }
    expect(isHttpParseError(first)).toBe(true);
    expect(() => parser.execute(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))).toThrow(
      first as HttpParseError,
    );
  });

  it('accepts a head of exactly maxHeadSize bytes and refuses one byte more with 431', () => {
    const head = (n: number) => {
      const base = 'GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n';
      return `GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ${'a'.repeat(n - base.length)}\r\n\r\n`;
    };
    const options = { maxHeadSize: 1000 };
    expect(head(1000).length).toBe(1000);
    expect(feedRequest(latin1(head(1000)), [], options).kind).toBe('ok');
    expect(feedRequest(latin1(head(1000)), [10, 500, 999], options).kind).toBe('ok');
    expect(feedRequest(latin1(head(1001)), [], options)).toEqual({
      kind: 'error',
      code: 'HEAD_TOO_LARGE',
      status: 431,
    });
    expect(feedRequest(latin1(head(1001)), [10, 500, 999], options)).toMatchObject({
      code: 'HEAD_TOO_LARGE',
    });
    // A head that never ends is refused once it passes the limit, not buffered forever.
    const parser = createRequestParser(options);
    const junk = latin1(`GET /${'a'.repeat(300)}`);
    expect(parser.execute(junk)).toBe(-1);
    expect(parser.execute(latin1('a'.repeat(600)))).toBe(-1);
    expect(() => parser.execute(latin1('a'.repeat(200)))).toThrow(/larger than the limit/);
    expect(codeOf(`GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: h\r\n\r\n`)).toBe('HEAD_TOO_LARGE');
  });

  it('refuses more than maxHeaders header fields with 431', () => {
    const raw = (n: number) => `GET / HTTP/1.1\r\nHost: h\r\n${'X: y\r\n'.repeat(n - 1)}\r\n`;
    expect(feedRequest(latin1(raw(100))).kind).toBe('ok');
    expect(feedRequest(latin1(raw(101)))).toEqual({ kind: 'error', code: 'TOO_MANY_HEADERS', status: 431 });
    expect(feedRequest(latin1(raw(5)), [], { maxHeaders: 4 })).toMatchObject({ code: 'TOO_MANY_HEADERS' });
  });

  it('marks headers named by Connection options as hop-by-hop', () => {
    const parser = createRequestParser();
    parser.execute(
      latin1('GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: x-a, X-B\r\nx-b: 2\r\nX-C: 3\r\n\r\n'),
    );
    expect(parser.connectionOptions).toEqual(['x-a', 'x-b']);
    const kinds = [0, 1, 2, 3, 4].map((i) => parser.headerKind(i));
    expect(kinds).toEqual([
      HeaderKind.Host,
      HeaderKind.ConnectionOption,
      HeaderKind.Connection,
      HeaderKind.ConnectionOption,
      0,
    ]);
  });

  it('accepts an absolute-form target whose authority differs from Host (the proxy picks; RFC 9112 §3.2.2)', () => {
    const r = feedRequest(latin1('GET http://other.example/x HTTP/1.1\r\nHost: api.example\r\n\r\n'));
    expect(r).toMatchObject({ kind: 'ok', head: { target: 'http://other.example/x', host: 'api.example' } });
  });

  it('interns common methods and keeps extension methods', () => {
    const parser = createRequestParser();
    parser.execute(latin1('PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n'));
    expect(parser.method).toBe('PROPFIND');
    expect(codeOf('get / HTTP/1.1\r\nHost: h\r\n\r\n')).toBeNull();
  });
});

describe('request parser: strict rules', () => {
  const H = 'Host: h\r\n';
  const cases: Array<[string, string, string, number]> = [
    ['bare LF after the request line', `GET / HTTP/1.1\n${H}\r\n`, 'BARE_LF', 400],
    ['bare LF after a header', 'GET / HTTP/1.1\r\nHost: h\n\r\n', 'BARE_LF', 400],
    ['bare LF as the final empty line', `GET / HTTP/1.1\r\n${H}\n`, 'BARE_LF', 400],
    ['LF-only head', 'GET / HTTP/1.1\nHost: h\n\n', 'BARE_LF', 400],
    ['bare CR inside a value', 'GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n', 'BARE_CR', 400],
    ['bare CR ending the request line', `GET / HTTP/1.1\r${H}\r\n`, 'BARE_CR', 400],
    ['bare CR as the final line', `GET / HTTP/1.1\r\n${H}\rX`, 'BARE_CR', 400],
    ['NUL in a value', `GET / HTTP/1.1\r\n${H}X: a\0b\r\n\r\n`, 'NUL_BYTE', 400],
    ['NUL in a name', `GET / HTTP/1.1\r\n${H}X\0: a\r\n\r\n`, 'NUL_BYTE', 400],
    ['NUL in the target', `GET /a\0 HTTP/1.1\r\n${H}\r\n`, 'NUL_BYTE', 400],
    ['NUL in the method', `G\0T / HTTP/1.1\r\n${H}\r\n`, 'NUL_BYTE', 400],
    ['obs-fold with SP', `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 'OBS_FOLD', 400],
    ['obs-fold with HTAB', `GET / HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`, 'OBS_FOLD', 400],
    ['first header line starting with SP', `GET / HTTP/1.1\r\n ${H}\r\n`, 'OBS_FOLD', 400],
    ['SP between name and colon', `GET / HTTP/1.1\r\nHost : h\r\n\r\n`, 'WHITESPACE_BEFORE_COLON', 400],
    ['HTAB between name and colon', `GET / HTTP/1.1\r\n${H}X\t: a\r\n\r\n`, 'WHITESPACE_BEFORE_COLON', 400],
    ['space inside a name', `GET / HTTP/1.1\r\n${H}X Y: a\r\n\r\n`, 'INVALID_HEADER_NAME', 400],
    ['non-token character in a name', `GET / HTTP/1.1\r\n${H}X(Y): a\r\n\r\n`, 'INVALID_HEADER_NAME', 400],
    ['empty name', `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`, 'INVALID_HEADER_NAME', 400],
    ['line without a colon', `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 'INVALID_HEADER_NAME', 400],
    ['non-ASCII name', `GET / HTTP/1.1\r\n${H}X\xe9: a\r\n\r\n`, 'INVALID_HEADER_NAME', 400],
    ['control character in a value', `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`, 'INVALID_HEADER_VALUE', 400],
    ['DEL in a value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 'INVALID_HEADER_VALUE', 400],
    ['vertical tab in a value', `GET / HTTP/1.1\r\n${H}X: \x0bchunked\r\n\r\n`, 'INVALID_HEADER_VALUE', 400],
    ['non-token method', `G(T / HTTP/1.1\r\n${H}\r\n`, 'INVALID_METHOD', 400],
    ['method with a slash', `GET/ / HTTP/1.1\r\n${H}\r\n`, 'INVALID_METHOD', 400],
    ['two spaces after the method', `GET  / HTTP/1.1\r\n${H}\r\n`, 'INVALID_REQUEST_LINE', 400],
    ['leading space', ` GET / HTTP/1.1\r\n${H}\r\n`, 'INVALID_REQUEST_LINE', 400],
    ['two spaces before the version', `GET /  HTTP/1.1\r\n${H}\r\n`, 'INVALID_REQUEST_LINE', 400],
    ['trailing space after the version', `GET / HTTP/1.1 \r\n${H}\r\n`, 'INVALID_REQUEST_LINE', 400],
    ['HTTP/0.9 request line', 'GET /\r\n\r\n', 'INVALID_REQUEST_LINE', 400],
    ['method alone', 'GET\r\n\r\n', 'INVALID_REQUEST_LINE', 400],
    ['space inside the target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 'INVALID_REQUEST_LINE', 400],
    ['HTAB inside the target', `GET /a\tb HTTP/1.1\r\n${H}\r\n`, 'INVALID_TARGET', 400],
    ['control character in the target', `GET /a\x01 HTTP/1.1\r\n${H}\r\n`, 'INVALID_TARGET', 400],
    ['non-ASCII target', `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, 'INVALID_TARGET', 400],
    ['lowercase version', `GET / http/1.1\r\n${H}\r\n`, 'INVALID_VERSION', 400],
    ['version without minor', `GET / HTTP/1\r\n${H}\r\n`, 'INVALID_VERSION', 400],
    ['version too long', `GET / HTTP/1.10\r\n${H}\r\n`, 'INVALID_VERSION', 400],
    ['version with a letter', `GET / HTTP/1.x\r\n${H}\r\n`, 'INVALID_VERSION', 400],
    ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 'UNSUPPORTED_VERSION', 505],
    ['HTTP/0.9 version', `GET / HTTP/0.9\r\n${H}\r\n`, 'UNSUPPORTED_VERSION', 505],
    ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 'UNSUPPORTED_VERSION', 505],
    ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 'MISSING_HOST', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 'DUPLICATE_HOST', 400],
    ['two equal Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 'DUPLICATE_HOST', 400],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 'INVALID_HOST', 400],
    ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', 'INVALID_HOST', 400],
    ['Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 'INVALID_HOST', 400],
    [
      'Content-Length with a plus sign',
      `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'negative Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'hex Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'space inside Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: 1 0\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length list',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    ['empty Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, 'INVALID_CONTENT_LENGTH', 400],
    [
      'Content-Length 2^53',
      `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740992\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length in exponent form',
      `POST / HTTP/1.1\r\n${H}Content-Length: 1e3\r\n\r\n`,
      'INVALID_CONTENT_LENGTH',
      400,
    ],
    [
      'repeated equal Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\n`,
      'DUPLICATE_CONTENT_LENGTH',
      400,
    ],
    [
      'conflicting Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`,
      'CONFLICTING_CONTENT_LENGTH',
      400,
    ],
    [
      'Content-Length then Transfer-Encoding',
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`,
      'CL_TE_CONFLICT',
      400,
    ],
    [
      'Transfer-Encoding then Content-Length',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`,
      'CL_TE_CONFLICT',
      400,
    ],
    [
      'unknown coding',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`,
      'INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      'chunked not last',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`,
      'INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      'identity',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`,
      'INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      'chunked twice',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`,
      'INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      'empty Transfer-Encoding',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`,
      'INVALID_TRANSFER_ENCODING',
      400,
    ],
    [
      'gzip then chunked',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`,
      'UNSUPPORTED_TRANSFER_ENCODING',
      501,
    ],
    [
      'two Transfer-Encoding headers',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
      'DUPLICATE_TRANSFER_ENCODING',
      400,
    ],
    [
      'Transfer-Encoding in HTTP/1.0',
      'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
      'TRANSFER_ENCODING_HTTP10',
      400,
    ],
    [
      'Connection tokens without a comma',
      `GET / HTTP/1.1\r\n${H}Connection: close foo\r\n\r\n`,
      'INVALID_CONNECTION',
      400,
    ],
    [
      'Connection with a non-token',
      `GET / HTTP/1.1\r\n${H}Connection: a@b\r\n\r\n`,
      'INVALID_CONNECTION',
      400,
    ],
    [
      'Connection naming Content-Length',
      `GET / HTTP/1.1\r\n${H}Connection: Content-Length\r\n\r\n`,
      'INVALID_CONNECTION',
      400,
    ],
    [
      'Connection naming Transfer-Encoding',
      `GET / HTTP/1.1\r\n${H}Connection: transfer-encoding\r\n\r\n`,
      'INVALID_CONNECTION',
      400,
    ],
    [
      'Connection naming Host',
      `GET / HTTP/1.1\r\n${H}Connection: close, host\r\n\r\n`,
      'INVALID_CONNECTION',
      400,
    ],
  ];

  for (const [name, raw, code, status] of cases) {
    it(`refuses ${name} with ${code} (${status})`, () => {
      const expected = { kind: 'error', code, status };
      expect(feedRequest(latin1(raw))).toEqual(expected);
      // The same verdict whichever way the bytes arrive.
      expect(
        feedRequest(
          latin1(raw),
          Array.from({ length: raw.length }, (_, i) => i),
        ),
      ).toEqual(expected);
    });
  }

  it('carries a typed error with code and status', () => {
    const parser = createRequestParser();
    try {
      parser.execute(latin1(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(HttpParseError);
      expect(error).toMatchObject({
        name: 'HttpParseError',
        code: 'UNSUPPORTED_TRANSFER_ENCODING',
        status: 501,
      });
    }
  });

  const valid: Array<[string, string, Record<string, unknown>]> = [
    [
      'HTAB before a value (OWS)',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n`,
      { framing: 'chunked' },
    ],
    [
      'trailing OWS after chunked',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked \t\r\n\r\n`,
      { framing: 'chunked' },
    ],
    [
      'uppercase CHUNKED',
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n`,
      { framing: 'chunked' },
    ],
    [
      'Content-Length with leading zeros',
      `POST / HTTP/1.1\r\n${H}Content-Length: 0005\r\n\r\n`,
      { contentLength: 5 },
    ],
    ['Content-Length with OWS', `POST / HTTP/1.1\r\n${H}Content-Length:  7 \r\n\r\n`, { contentLength: 7 }],
    [
      'largest Content-Length',
      `POST / HTTP/1.1\r\n${H}Content-Length: 9007199254740991\r\n\r\n`,
      { contentLength: 2 ** 53 - 1 },
    ],
    [
      'Content-Length 0',
      `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`,
      { framing: 'content-length', contentLength: 0 },
    ],
    ['empty Host in HTTP/1.1', 'GET / HTTP/1.1\r\nHost:\r\n\r\n', { host: '' }],
    ['IPv6 Host', 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', { host: '[::1]:8080' }],
    ['obs-text in a value', `GET / HTTP/1.1\r\n${H}X: caf\xe9\r\n\r\n`, { framing: 'none' }],
    ['asterisk-form', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, { method: 'OPTIONS', target: '*' }],
    [
      'authority-form',
      `CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n`,
      { method: 'CONNECT', target: 'a.b:443' },
    ],
    [
      'empty Connection elements',
      `GET / HTTP/1.1\r\n${H}Connection: , close,,\r\n\r\n`,
      { keepAlive: false },
    ],
  ];
  for (const [name, raw, fields] of valid) {
    it(`accepts ${name}`, () => {
      expect(feedRequest(latin1(raw))).toMatchObject({ kind: 'ok', end: raw.length, head: fields });
    });
  }
});

describe('request parser: header offsets', () => {
  it('lets a caller walk the header list without allocating strings', () => {
    const parser = createRequestParser();
    const buf = latin1('GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-Custom: v\r\n\r\n');
    parser.execute(buf);
    const names: string[] = [];
    for (let i = 0; i < parser.headerCount; i++) {
      const o = i * HEADER_STRIDE;
      names.push(
        buf.toString('latin1', parser.base + parser.headers[o], parser.base + parser.headers[o + 1]),
      );
    }
    expect(names).toEqual(['Host', 'Content-Length', 'X-Custom']);
    expect(parser.headerKind(1)).toBe(HeaderKind.ContentLength);
  });
});
