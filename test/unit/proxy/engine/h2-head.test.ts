import { describe, expect, it } from 'vitest';
import {
  BodyFraming,
  H2RequestHeadWriter,
  h1InterimHead,
  h1LastChunk,
  h1ResponseHead,
  h2Trailers,
  rawHeadersOf,
} from '../../../../src/proxy/engine/h2-head.ts';
import { RequestParser } from '../../../../src/proxy/http1/index.ts';

function parse(raw: string): RequestParser {
  const parser = new RequestParser();
  const end = parser.execute(Buffer.from(raw, 'latin1'));
  expect(end).toBeGreaterThan(0);
  return parser;
}

/** The headers as a plain object (the writer's has no prototype). */
function write(
  raw: string,
  options: {
    target?: string;
    host?: string;
    trust?: boolean;
    deadline?: number;
    client?: string;
  } = {},
): Record<string, unknown> {
  const writer = new H2RequestHeadWriter(options.client ?? '10.0.0.7', options.trust ?? false);
  const headers = writer.write(
    parse(raw),
    options.target,
    options.host,
    'orders',
    options.deadline ?? Number.POSITIVE_INFINITY,
  );
  expect(Object.getPrototypeOf(headers)).toBeNull();
  return { ...headers };
}

describe('H2RequestHeadWriter (HTTP/1.1 head → HTTP/2 request headers)', () => {
  it('maps the request line and Host to pseudo-headers and adds the forwarding fields', () => {
    expect(write('GET /items?id=1 HTTP/1.1\r\nHost: shop.example:8080\r\nAccept: */*\r\n\r\n')).toEqual({
      ':method': 'GET',
      ':scheme': 'http',
      ':authority': 'shop.example:8080',
      ':path': '/items?id=1',
      accept: '*/*',
      'x-forwarded-for': '10.0.0.7',
      'x-forwarded-proto': 'http',
      via: '1.1 trellis',
    });
  });

  it('drops hop-by-hop and connection-specific fields, and what Connection names', () => {
    const headers = write(
      'POST /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n' +
        'Proxy-Connection: keep-alive\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n' +
        'Proxy-Authorization: Basic eA==\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nX-Kept: yes\r\n\r\n',
    );
    expect(Object.keys(headers).sort()).toEqual(
      [
        ':authority',
        ':method',
        ':path',
        ':scheme',
        'via',
        'x-forwarded-for',
        'x-forwarded-proto',
        'x-kept',
      ].sort(),
    );
  });

  it('keeps TE only as `te: trailers`', () => {
    expect(write('GET / HTTP/1.1\r\nHost: h\r\nTE: gzip, trailers;q=0.5\r\n\r\n').te).toBe('trailers');
    expect(write('GET / HTTP/1.1\r\nHost: h\r\nTE: gzip\r\n\r\n').te).toBeUndefined();
  });

  it('lowercases names and joins repeated fields (cookies with "; ")', () => {
    const headers = write(
      'GET / HTTP/1.1\r\nHost: h\r\nX-Tag: a\r\nx-tag: b\r\nCookie: a=1\r\nCookie: b=2\r\nContent-Length: 0\r\n\r\n',
    );
    expect(headers['x-tag']).toBe('a, b');
    expect(headers.cookie).toBe('a=1; b=2');
    expect(headers['content-length']).toBe('0');
  });

  it('applies the rewrites: target, host (with x-forwarded-host), absolute-form, no Host', () => {
    const rewritten = write('GET /api/items HTTP/1.1\r\nHost: public.example\r\n\r\n', {
      target: '/items',
      host: 'internal',
    });
    expect(rewritten).toMatchObject({
      ':path': '/items',
      ':authority': 'internal',
      'x-forwarded-host': 'public.example',
    });
    expect(write('GET http://orders:81/a?b HTTP/1.1\r\nHost: orders:81\r\n\r\n')[':path']).toBe('/a?b');
    expect(write('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n')[':path']).toBe('*');
    expect(write('GET / HTTP/1.0\r\n\r\n')[':authority']).toBe('orders');
  });

  it('appends to x-forwarded-for and via, and handles x-forwarded-proto/host by trust', () => {
    const raw =
      'GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n' +
      'X-Forwarded-Host: outer\r\nVia: 1.1 edge\r\n\r\n';
    expect(write(raw)).toMatchObject({
      'x-forwarded-for': '1.2.3.4, 10.0.0.7',
      'x-forwarded-proto': 'http',
      via: '1.1 edge, 1.1 trellis',
    });
    expect(write(raw)['x-forwarded-host']).toBeUndefined();
    const trusted = write(raw, { trust: true });
    expect(trusted['x-forwarded-proto']).toBe('https');
    expect(trusted['x-forwarded-host']).toBe('outer');
  });

  it('keeps an untrusted client’s forwarded and x-forwarded-port out, as the HTTP/1.1 path does', () => {
    const raw = 'GET / HTTP/1.1\r\nHost: h\r\nForwarded: proto=https\r\nX-Forwarded-Port: 443\r\n\r\n';
    expect(write(raw)).not.toHaveProperty('forwarded');
    expect(write(raw)).not.toHaveProperty('x-forwarded-port');
    expect(write(raw, { trust: true })).toMatchObject({
      forwarded: 'proto=https',
      'x-forwarded-port': '443',
    });
  });

  it('takes an absolute-form target’s authority as the original host, and names HTTP/1.0 in via', () => {
    const absolute = 'GET http://shop.example/a HTTP/1.1\r\nHost: ignored\r\n\r\n';
    expect(write(absolute, { host: 'shop.example' })).not.toHaveProperty('x-forwarded-host');
    expect(write(absolute, { host: 'inside' })['x-forwarded-host']).toBe('shop.example');
    expect(write('GET / HTTP/1.0\r\nHost: h\r\n\r\n').via).toBe('1.0 trellis');
  });

  it('replaces x-trellis-deadline with the effective deadline', () => {
    const raw = 'GET / HTTP/1.1\r\nHost: h\r\nX-Trellis-Deadline: 9999999999999\r\n\r\n';
    expect(write(raw, { deadline: 1_700_000_000_123.7 })['x-trellis-deadline']).toBe('1700000000123');
    expect(write(raw)['x-trellis-deadline']).toBeUndefined();
  });

  it('survives header names that are Object.prototype members', () => {
    const headers = write('GET / HTTP/1.1\r\nHost: h\r\nconstructor: x\r\ntoString: y\r\n\r\n');
    expect(headers.constructor).toBe('x');
    expect(headers.tostring).toBe('y');
  });
});

describe('HTTP/2 response → HTTP/1.1 head', () => {
  const raw = [':status', '201', 'content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2'];

  it('writes the status line, the fields (repeated ones as lines) and the Connection header', () => {
    expect(h1ResponseHead(201, raw, BodyFraming.Length, false).toString('latin1')).toBe(
      'HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n' +
        'connection: keep-alive\r\n\r\n',
    );
  });

  it('adds chunked framing, or says close', () => {
    expect(h1ResponseHead(200, [':status', '200'], BodyFraming.Chunked, false).toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n',
    );
    expect(h1ResponseHead(200, [':status', '200'], BodyFraming.Close, true).toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n',
    );
  });

  it('leaves out connection-specific fields', () => {
    const head = h1ResponseHead(
      200,
      ['connection', 'x', 'keep-alive', '1', 'transfer-encoding', 'gzip', 'upgrade', 'h3', 'x-ok', '1'],
      BodyFraming.None,
      false,
    ).toString('latin1');
    expect(head).toBe('HTTP/1.1 200 OK\r\nx-ok: 1\r\nconnection: keep-alive\r\n\r\n');
  });

  it('writes interim heads, trailers in the last chunk, and raw headers from an object', () => {
    expect(h1InterimHead(103, [':status', '103', 'link', '</a.css>']).toString('latin1')).toBe(
      'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n',
    );
    expect(h1LastChunk(null).toString('latin1')).toBe('0\r\n\r\n');
    expect(h1LastChunk({ 'x-sum': 'abc', 'x-list': ['1', '2'] }).toString('latin1')).toBe(
      '0\r\nx-sum: abc\r\nx-list: 1\r\nx-list: 2\r\n\r\n',
    );
    expect(rawHeadersOf({ ':status': '200', 'set-cookie': ['a', 'b'] } as never)).toEqual([
      ':status',
      '200',
      'set-cookie',
      'a',
      'set-cookie',
      'b',
    ]);
  });
});

describe('h2Trailers', () => {
  it('maps a trailer section to HTTP/2 trailers: lowercase names, repeats joined, forbidden fields out', () => {
    const trailers = h2Trailers(
      'X-Checksum: abc\r\nServer-Timing: db;dur=5\r\nserver-timing:  app;dur=7 \r\n' +
        'Content-Length: 5\r\nConnection: close\r\nHost: evil\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    expect(Object.getPrototypeOf(trailers)).toBeNull();
    expect({ ...trailers }).toEqual({ 'x-checksum': 'abc', 'server-timing': 'db;dur=5, app;dur=7' });
    expect({ ...h2Trailers('\r\n') }).toEqual({});
    expect({ ...h2Trailers('') }).toEqual({});
  });
});
