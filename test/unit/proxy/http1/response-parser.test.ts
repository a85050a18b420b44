import { describe, expect, it } from 'vitest';
import { createBodyDecoder, createResponseParser } from '../../../../src/proxy/http1/index.ts';
import { feedResponse, latin1, prng, randomCuts } from './helpers.ts';

function ok(raw: string, method = 'GET') {
  const r = feedResponse(latin1(raw), method);
  if (r.kind !== 'ok') throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r;
}

describe('response parser', () => {
  it('parses a status line, headers and Content-Length framing', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n';
    const r = ok(`${head}hello`);
    expect(r.end).toBe(head.length);
    expect(r.head).toEqual({
      status: 200,
      reason: 'OK',
      version: '1.1',
      headers: [
        ['Content-Type', 'text/plain'],
        ['Content-Length', '5'],
      ],
      framing: 'content-length',
      contentLength: 5,
      keepAlive: true,
      upgrade: undefined,
    });
  });

  it('frames chunked, close-delimited and body-less responses', () => {
    expect(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').head.framing).toBe('chunked');
    const close = ok('HTTP/1.1 200 OK\r\n\r\n').head;
    expect(close.framing).toBe('close');
    expect(close.keepAlive).toBe(false);
    expect(ok('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD').head.framing).toBe('none');
    expect(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'HEAD').head.framing).toBe('none');
    expect(ok('HTTP/1.1 204 No Content\r\n\r\n').head).toMatchObject({ framing: 'none', keepAlive: true });
    expect(ok('HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n').head.framing).toBe('none');
    expect(ok('HTTP/1.1 100 Continue\r\n\r\n').head).toMatchObject({
      status: 100,
      framing: 'none',
      keepAlive: true,
    });
    expect(ok('HTTP/1.1 200 Connection established\r\n\r\n', 'CONNECT').head).toMatchObject({
      framing: 'none',
      keepAlive: false,
    });
  });

  it('reports a 101 upgrade', () => {
    const r = ok('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(r.head).toMatchObject({ status: 101, upgrade: 'websocket', framing: 'none', keepAlive: false });
  });

  it('applies HTTP/1.0 and Connection keep-alive rules', () => {
    expect(ok('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').head.keepAlive).toBe(false);
    expect(ok('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').head.keepAlive).toBe(
      true,
    );
    expect(ok('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').head.keepAlive).toBe(
      false,
    );
  });

  it('accepts a status line without a reason phrase, with or without the space', () => {
    expect(ok('HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ status: 404, reason: '' });
    expect(ok('HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n').head).toMatchObject({ status: 404, reason: '' });
    expect(ok('HTTP/1.1 500 Internal \xe9rror\r\nContent-Length: 0\r\n\r\n').head.reason).toBe(
      'Internal \xe9rror',
    );
  });

  it('parses 1xx then the final response with one parser', () => {
    const parser = createResponseParser();
    const buf = latin1('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    const first = parser.execute(buf, 0, 'PUT');
    expect(parser.status).toBe(100);
    const second = parser.execute(buf, first, 'PUT');
    expect(parser.status).toBe(201);
    expect(createBodyDecoder(parser).consume(buf, second)).toEqual({ consumed: 2, done: true });
  });

  it('gives the same result whatever way the bytes are split', () => {
    const raw = latin1(
      'HTTP/1.1 200 OK\r\nServer: x\r\nTransfer-Encoding: chunked\r\nConnection: x-a\r\nX-A: 1\r\n\r\n0\r\n\r\n',
    );
    const whole = feedResponse(raw, 'GET');
    expect(whole.kind).toBe('ok');
    for (let cut = 1; cut < raw.length; cut++) expect(feedResponse(raw, 'GET', [cut])).toEqual(whole);
    const rand = prng(11);
    for (let i = 0; i < 200; i++)
      expect(feedResponse(raw, 'GET', randomCuts(rand, raw.length, 8))).toEqual(whole);
  });

  const refused: Array<[string, string, string]> = [
    [
      'CL and TE',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'CL_TE_CONFLICT',
    ],
    [
      'conflicting CL',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'CONFLICTING_CONTENT_LENGTH',
    ],
    [
      'repeated CL',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
      'DUPLICATE_CONTENT_LENGTH',
    ],
    ['bad CL', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n', 'INVALID_CONTENT_LENGTH'],
    ['TE not chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'INVALID_TRANSFER_ENCODING'],
    [
      'TE gzip, chunked',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'UNSUPPORTED_TRANSFER_ENCODING',
    ],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'TRANSFER_ENCODING_HTTP10'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'OBS_FOLD'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'BARE_LF'],
    ['bare LF in headers', 'HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n', 'BARE_LF'],
    ['bare CR', 'HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n', 'BARE_CR'],
    ['NUL', 'HTTP/1.1 200 OK\r\nX: \0\r\n\r\n', 'NUL_BYTE'],
    ['two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['status below 100', 'HTTP/1.1 099 X\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['lowercase version', 'http/1.1 200 OK\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['leading empty line', '\r\nHTTP/1.1 200 OK\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'UNSUPPORTED_VERSION'],
    ['control in reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', 'INVALID_STATUS_LINE'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'WHITESPACE_BEFORE_COLON'],
  ];
  for (const [name, raw, code] of refused) {
    it(`refuses ${name} with ${code}, status 502`, () => {
      const expected = { kind: 'error', code, status: 502 };
      expect(feedResponse(latin1(raw), 'GET')).toEqual(expected);
      expect(
        feedResponse(
          latin1(raw),
          'GET',
          Array.from({ length: raw.length }, (_, i) => i),
        ),
      ).toEqual(expected);
    });
  }

  it('refuses a response head over the size limit', () => {
    const parser = createResponseParser({ maxHeadSize: 100 });
    expect(() =>
      parser.execute(latin1(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(200)}\r\n\r\n`), 0, 'GET'),
    ).toThrow(expect.objectContaining({ code: 'HEAD_TOO_LARGE', status: 502 }));
  });
});
