import { describe, expect, it } from 'vitest';
import {
  createRequestParser,
  createResponseParser,
  HeaderKind,
  writeRequestHead,
  writeResponseHead,
} from '../../../../src/proxy/http1/index.ts';
import { latin1 } from './helpers.ts';

function request(raw: string) {
  const parser = createRequestParser();
  const buf = latin1(`junk${raw}`);
  expect(parser.execute(buf, 4)).toBe(buf.length);
  return parser;
}

function response(raw: string, method = 'GET') {
  const parser = createResponseParser();
  expect(parser.execute(latin1(raw), 0, method)).toBe(raw.length);
  return parser;
}

const text = (b: Buffer) => b.toString('latin1');

describe('request head writer', () => {
  it('copies a head with nothing to drop and adds connection: keep-alive', () => {
    const raw = 'GET /a?b=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n';
    expect(text(writeRequestHead(request(raw)))).toBe(
      'GET /a?b=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\nContent-Length: 0\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('writes the known input byte for byte with every edit', () => {
    const raw =
      'POST /api/v1/orders?id=7 HTTP/1.1\r\n' +
      'Host: shop.example\r\n' +
      'Connection: keep-alive, X-Hop\r\n' +
      'User-Agent: k6\r\n' +
      'Keep-Alive: timeout=5\r\n' +
      'X-Hop: secret\r\n' +
      'Proxy-Authorization: Basic abc\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-Sum\r\n' +
      'Upgrade: h2c\r\n' +
      'X-Forwarded-For: 1.1.1.1\r\n' +
      'Transfer-Encoding: chunked\r\n' +
      'Accept: application/json\r\n' +
      '\r\n';
    const head = request(raw);
    const out = writeRequestHead(head, {
      target: '/v1/orders?id=7',
      host: 'orders.svc:8080',
      drop: HeaderKind.XForwardedFor,
      append: [
        Buffer.from('x-forwarded-proto: https\r\n'),
        `x-forwarded-for: ${head.xForwardedFor}, 10.1.2.3\r\n`,
        'via: 1.1 trellis\r\n',
      ],
    });
    expect(text(out)).toBe(
      'POST /v1/orders?id=7 HTTP/1.1\r\n' +
        'host: orders.svc:8080\r\n' +
        'User-Agent: k6\r\n' +
        'Transfer-Encoding: chunked\r\n' +
        'Accept: application/json\r\n' +
        'x-forwarded-proto: https\r\n' +
        'x-forwarded-for: 1.1.1.1, 10.1.2.3\r\n' +
        'via: 1.1 trellis\r\n' +
        'te: trailers\r\n' +
        'connection: keep-alive, te\r\n' +
        '\r\n',
    );
  });

  it('passes TE on only as `te: trailers`, named in Connection, and only from HTTP/1.1', () => {
    const cases: Array<[string, string]> = [
      ['TE: deflate;q=0.5, Trailers;q=1', 'te: trailers\r\nconnection: keep-alive, te\r\n'],
      ['TE: trailers', 'te: trailers\r\nconnection: keep-alive, te\r\n'],
      ['TE: gzip', 'connection: keep-alive\r\n'],
      ['TE: trailersx, x;p="trailers"', 'connection: keep-alive\r\n'],
    ];
    for (const [te, tail] of cases) {
      const head = request(`GET / HTTP/1.1\r\nHost: a\r\nConnection: TE\r\n${te}\r\n\r\n`);
      expect(text(writeRequestHead(head)), te).toBe(`GET / HTTP/1.1\r\nHost: a\r\n${tail}\r\n`);
    }
    const ws = request(
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nTE: trailers\r\n\r\n',
    );
    expect(text(writeRequestHead(ws, { upgrade: true }))).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nte: trailers\r\nconnection: upgrade, te\r\n\r\n',
    );
    const http10 = request('GET / HTTP/1.0\r\nTE: trailers\r\n\r\n');
    expect(text(writeRequestHead(http10))).toBe('GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n');
  });

  it('keeps Upgrade and sends connection: upgrade when upgrading', () => {
    const head = request(
      'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n',
    );
    expect(text(writeRequestHead(head, { upgrade: head.upgrade !== undefined }))).toBe(
      'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nconnection: upgrade\r\n\r\n',
    );
    expect(text(writeRequestHead(head))).toBe(
      'GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('forwards an HTTP/1.0 request as HTTP/1.1, with or without a new target, adding Host', () => {
    const head = request('GET /x HTTP/1.0\r\nAccept: */*\r\n\r\n');
    expect(text(writeRequestHead(head, { host: 'up' }))).toBe(
      'GET /x HTTP/1.1\r\nhost: up\r\nAccept: */*\r\nconnection: keep-alive\r\n\r\n',
    );
    expect(text(writeRequestHead(head, { host: 'up', target: '/y' }))).toBe(
      'GET /y HTTP/1.1\r\nhost: up\r\nAccept: */*\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('removes headers by name and when every header is dropped', () => {
    const head = request(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Internal: 1\r\nx-internal: 2\r\nX-Keep: 3\r\nX_Under: 4\r\n\r\n',
    );
    expect(text(writeRequestHead(head, { remove: ['x-internal', 'x_under'] }))).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Keep: 3\r\nconnection: keep-alive\r\n\r\n',
    );
    const bare = request('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(text(writeRequestHead(bare, { host: 'b' }))).toBe(
      'GET / HTTP/1.1\r\nhost: b\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('drops a first or last header next to the start line it copies along', () => {
    const first = request('GET /f HTTP/1.1\r\nConnection: close\r\nHost: a\r\nX: 1\r\n\r\n');
    expect(text(writeRequestHead(first))).toBe(
      'GET /f HTTP/1.1\r\nHost: a\r\nX: 1\r\nconnection: keep-alive\r\n\r\n',
    );
    const last = request('GET /l HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\n\r\n');
    expect(text(writeRequestHead(last, { append: ['y: 2\r\n'] }))).toBe(
      'GET /l HTTP/1.1\r\nHost: a\r\ny: 2\r\nconnection: keep-alive\r\n\r\n',
    );
    const http10 = request('GET /o HTTP/1.0\r\nKeep-Alive: 5\r\nX: 1\r\n\r\n');
    expect(text(writeRequestHead(http10))).toBe('GET /o HTTP/1.1\r\nX: 1\r\nconnection: keep-alive\r\n\r\n');
  });

  it('works on a head that arrived in pieces (private buffer)', () => {
    const parser = createRequestParser();
    parser.execute(latin1('GET /p HTTP/1.1\r\nHo'));
    parser.execute(latin1('st: h\r\nConnection: close\r\nX: 1\r\n\r\n'));
    expect(text(writeRequestHead(parser))).toBe(
      'GET /p HTTP/1.1\r\nHost: h\r\nX: 1\r\nconnection: keep-alive\r\n\r\n',
    );
  });
});

describe('response head writer', () => {
  it('drops hop-by-hop headers, appends lines and sets the connection header', () => {
    const head = response(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Up\r\nKeep-Alive: timeout=5\r\n' +
        'X-Up: 1\r\nProxy-Authenticate: Basic\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    expect(text(writeResponseHead(head, { append: ['x-trellis-upstream: a:1\r\n'] }))).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nx-trellis-upstream: a:1\r\n' +
        'connection: keep-alive\r\n\r\n',
    );
    expect(text(writeResponseHead(head, { connection: 'close', drop: HeaderKind.TransferEncoding }))).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nconnection: close\r\n\r\n',
    );
  });

  it('copies a clean head as one block and rewrites an HTTP/1.0 status line', () => {
    expect(text(writeResponseHead(response('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')))).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nconnection: keep-alive\r\n\r\n',
    );
    expect(text(writeResponseHead(response('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n')))).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('keeps Upgrade on a 101', () => {
    const head = response(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n',
    );
    expect(text(writeResponseHead(head))).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nconnection: upgrade\r\n\r\n',
    );
  });

  it('keeps Upgrade on a 426, with the upgrade option its sender must put in Connection', () => {
    const head = response(
      'HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.3\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n',
    );
    expect(text(writeResponseHead(head))).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.3\r\nContent-Length: 0\r\nconnection: keep-alive, upgrade\r\n\r\n',
    );
    expect(text(writeResponseHead(head, { connection: 'close' }))).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.3\r\nContent-Length: 0\r\nconnection: close, upgrade\r\n\r\n',
    );
    // Elsewhere Upgrade is hop-by-hop.
    expect(
      text(writeResponseHead(response('HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n'))),
    ).toBe('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: keep-alive\r\n\r\n');
  });
});
