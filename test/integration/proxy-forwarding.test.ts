import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../../src/core/index.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { closeAll, startTestGateway } from '../helpers/proxy-harness.ts';
import {
  echo,
  eventually,
  instance,
  parseResponses,
  policy,
  RawClient,
  rawExchange,
  request,
  sleep,
  startRawServer,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

function route(name: string, service: string, prefix: string, extra: Partial<Route> = {}): Route {
  return {
    name,
    priority: 0,
    match: { path: { prefix } },
    service,
    stripPrefix: false,
    createdAt: 0,
    ...extra,
  };
}

describe('proxy forwarding (gateway, HTTP/1.1 on raw sockets)', () => {
  let upstream: Upstream;
  let big: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  const bigBody = Buffer.alloc(10 * 1024 * 1024, 'abcdefghij');
  const bigHash = createHash('sha256').update(bigBody).digest('hex');
  let uploadSeen: { bytes: number; hash: string } | undefined;
  let backpressured = false;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const url = req.url ?? '/';
      if (url.startsWith('/status/')) {
        res.statusCode = Number(url.slice(8));
        res.end();
        return;
      }
      if (url === '/chunked') {
        res.write('one,');
        setTimeout(() => {
          res.write('two,');
          res.end('three');
        }, 5);
        return;
      }
      if (url === '/head-length') {
        res.setHeader('content-length', '42');
        res.end();
        return;
      }
      if (url === '/hop') {
        res.setHeader('connection', 'x-internal');
        res.setHeader('x-internal', 'secret');
        res.setHeader('keep-alive', 'timeout=5');
        res.setHeader('proxy-authenticate', 'Basic');
        res.setHeader('x-kept', 'yes');
        res.end('hop');
        return;
      }
      echo('web')(req, res);
    });
    big = await startUpstream((req, res) => {
      if (req.method === 'POST') {
        // Reads nothing for a while: the client must be held back, not buffered.
        req.pause();
        setTimeout(() => {
          const hash = createHash('sha256');
          let bytes = 0;
          req.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            hash.update(chunk);
          });
          req.on('end', () => {
            uploadSeen = { bytes, hash: hash.digest('hex') };
            res.end('ok');
          });
          req.resume();
        }, 300);
        return;
      }
      res.setHeader('content-length', String(bigBody.length));
      let offset = 0;
      const step = 256 * 1024;
      const pump = (): void => {
        while (offset < bigBody.length) {
          const ok = res.write(bigBody.subarray(offset, offset + step));
          offset += step;
          if (!ok) {
            backpressured = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    ({ proxy, gateway } = await startTestGateway({
      instances: [instance('web', upstream.port), instance('big', big.port)],
      routes: [route('web', 'web', '/'), route('big', 'big', '/big')],
      policies: [policy('web', { loadBalancer: { kind: 'round-robin' } })],
    }));
  });

  afterAll(() => closeAll(proxy, upstream, big));

  it('forwards a GET with x-forwarded-*, via and a deadline', async () => {
    const before = Date.now();
    const response = await request(gateway.port, 'GET', '/hello?x=1', { headers: { host: 'shop.example' } });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('web');
    const seen = JSON.parse(response.body);
    expect(seen.url).toBe('/hello?x=1');
    expect(seen.headers.host).toBe('shop.example');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers.via).toBe('1.1 trellis');
    const deadline = Number(seen.headers['x-trellis-deadline']);
    expect(deadline).toBeGreaterThanOrEqual(before + 14_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it('strips hop-by-hop headers both ways and appends to x-forwarded-for', async () => {
    const response = await request(gateway.port, 'GET', '/x', {
      headers: {
        connection: 'close, x-secret',
        'x-secret': '1',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'spoofed',
      },
    });
    const seen = JSON.parse(response.body).headers;
    for (const name of ['x-secret', 'keep-alive', 'proxy-authorization', 'x-forwarded-host']) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen.te).toBe('trailers');
    expect(seen['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');

    const hop = await request(gateway.port, 'GET', '/hop');
    expect(hop.body).toBe('hop');
    expect(hop.headers['x-kept']).toBe('yes');
    expect(hop.headers['x-internal']).toBeUndefined();
    expect(hop.headers['keep-alive']).toBeUndefined();
    expect(hop.headers['proxy-authenticate']).toBeUndefined();
    expect(hop.headers.connection).toBe('close');
  });

  it('forwards content-length and chunked request bodies, and chunked responses', async () => {
    const posted = await request(gateway.port, 'POST', '/form', { body: 'a=1&b=2' });
    expect(JSON.parse(posted.body)).toMatchObject({ method: 'POST', body: 'a=1&b=2' });

    const raw = await rawExchange(
      gateway.port,
      'POST /chunks HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n',
    );
    const [chunked] = parseResponses(raw);
    const seen = JSON.parse(chunked.body);
    expect(seen.body).toBe('hello, world');
    expect(seen.headers['transfer-encoding']).toBe('chunked');

    const streamed = await request(gateway.port, 'GET', '/chunked');
    expect(streamed.headers['transfer-encoding']).toBe('chunked');
    expect(streamed.body).toBe('one,two,three');
  });

  it('reuses upstream connections across requests and client connections', async () => {
    await request(gateway.port, 'GET', '/warm');
    const before = upstream.connections;
    const client = await RawClient.open(gateway.port);
    for (let i = 0; i < 20; i++) {
      const response = await client.request('GET', `/n/${i}`);
      expect(JSON.parse(response.body).url).toBe(`/n/${i}`);
    }
    client.close();
    for (let i = 0; i < 5; i++) await request(gateway.port, 'GET', `/fresh/${i}`);
    expect(upstream.connections - before).toBe(0);
  });

  it('answers pipelined requests in order', async () => {
    const raw = await rawExchange(
      gateway.port,
      'GET /p1 HTTP/1.1\r\nhost: t\r\n\r\n' +
        'POST /p2 HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc' +
        'GET /status/204 HTTP/1.1\r\nhost: t\r\n\r\n' +
        'GET /p4 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n',
    );
    const responses = parseResponses(raw);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 204, 200]);
    expect(JSON.parse(responses[0].body).url).toBe('/p1');
    expect(JSON.parse(responses[1].body)).toMatchObject({ url: '/p2', body: 'abc' });
    expect(JSON.parse(responses[3].body).url).toBe('/p4');
  });

  it('sends no body for HEAD, 204 and 304, and keeps the connection usable', async () => {
    const client = await RawClient.open(gateway.port);
    const head = await client.request('HEAD', '/head-length');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('42');
    expect((await client.request('GET', '/status/204')).status).toBe(204);
    expect((await client.request('GET', '/status/304')).status).toBe(304);
    const after = await client.request('GET', '/after');
    expect(JSON.parse(after.body).url).toBe('/after');
    client.close();
  });

  it('passes Expect: 100-continue through', async () => {
    const client = await RawClient.open(gateway.port);
    const interim = await client.send(
      'POST /expect HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n',
    );
    expect(interim.status).toBe(100);
    const final = await client.send('hello');
    expect(final.status).toBe(200);
    expect(JSON.parse(final.body)).toMatchObject({ body: 'hello' });
    client.close();
  });

  it('keeps an HTTP/1.0 keep-alive client connection open, and closes a plain HTTP/1.0 one', async () => {
    const client = await RawClient.open(gateway.port);
    for (let i = 0; i < 2; i++) {
      const response = await client.send('GET /ten HTTP/1.0\r\nhost: t\r\nconnection: keep-alive\r\n\r\n');
      expect(response.headers.connection).toBe('keep-alive');
      expect(JSON.parse(response.body).url).toBe('/ten');
    }
    client.close();
    const raw = await rawExchange(gateway.port, 'GET /ten HTTP/1.0\r\nhost: t\r\n\r\n');
    expect(parseResponses(raw)[0].headers.connection).toBe('close');
  });

  it('decodes a chunked response for an HTTP/1.0 client and closes', async () => {
    const raw = await rawExchange(gateway.port, 'GET /chunked HTTP/1.0\r\nhost: t\r\n\r\n');
    const end = raw.indexOf('\r\n\r\n');
    expect(raw.slice(0, end)).not.toMatch(/transfer-encoding/i);
    expect(raw.slice(0, end)).toMatch(/connection: close/i);
    expect(raw.slice(end + 4)).toBe('one,two,three');
  });

  it('streams a 10 MB request body with backpressure', async () => {
    uploadSeen = undefined;
    const socket = connect(gateway.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.write(
      `POST /big/upload HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: ${bigBody.length}\r\n\r\n`,
    );
    socket.write(bigBody);
    // While the upstream reads nothing, the proxy must stop reading too: the data stays on our side.
    await sleep(150);
    expect(socket.writableLength).toBeGreaterThan(1024 * 1024);
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
    expect(uploadSeen).toEqual({ bytes: bigBody.length, hash: bigHash });
  });

  it('streams a 10 MB response to a slow reader with backpressure', async () => {
    backpressured = false;
    const socket = connect(gateway.port, '127.0.0.1');
    socket.write('GET /big/download HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n');
    socket.pause();
    // The client reads nothing: the upstream must be told to wait.
    await eventually(() => backpressured, 5_000);
    const hash = createHash('sha256');
    let head = '';
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      if (head.endsWith('\r\n\r\n')) {
        bytes += chunk.length;
        hash.update(chunk);
        return;
      }
      const text = head + chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        head = text;
        return;
      }
      head = text.slice(0, end + 4);
      const body = chunk.subarray(chunk.length - (text.length - end - 4));
      bytes += body.length;
      hash.update(body);
    });
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(bytes).toBe(bigBody.length);
    expect(hash.digest('hex')).toBe(bigHash);
  });
});

describe('proxy forwarding: upgrades, bad upstreams, stale connections', () => {
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  const servers: Array<{ close(): Promise<void> }> = [];
  let stale: { port: number; connections: number } & { close(): Promise<void> };
  let closing: { port: number; connections: number } & { close(): Promise<void> };
  /** The methods of the requests the stale upstream read, the ones it reset included. */
  const staleRequests: string[] = [];

  beforeAll(async () => {
    // A WebSocket-like upstream: answers the upgrade, then echoes bytes upper-cased.
    const ws = await startRawServer((socket) => {
      let head = '';
      let upgraded = false;
      socket.on('data', (chunk: Buffer) => {
        if (upgraded) {
          socket.write(chunk.toString('latin1').toUpperCase());
          return;
        }
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        const ok = /\r\nupgrade: websocket\r\n/i.test(head) && /\r\nconnection: upgrade\r\n/i.test(head);
        socket.write(
          ok
            ? 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\nwelcome'
            : 'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n',
        );
        const rest = head.slice(end + 4);
        if (rest.length > 0) socket.write(rest.toUpperCase());
      });
    });
    // Answers with a malformed response.
    const broken = await startRawServer((socket) => {
      socket.once('data', () =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabc'),
      );
    });
    // Answers the first request of each connection and drops the connection on the second, as an
    // upstream closing an idle keep-alive connection at the moment a request is sent on it would.
    stale = await startRawServer((socket) => {
      let seen = 0;
      let buffer = '';
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const length = Number(/content-length: (\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
          if (buffer.length < end + 4 + length) return;
          staleRequests.push(buffer.slice(0, buffer.indexOf(' ')));
          buffer = buffer.slice(end + 4 + length);
          seen++;
          if (seen > 1) {
            socket.destroy();
            return;
          }
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    // Answers every request with `connection: close` and closes.
    closing = await startRawServer((socket) => {
      socket.once('data', () =>
        socket.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nclosed'),
      );
    });
    servers.push(ws, broken, stale, closing);
    ({ proxy, gateway } = await startTestGateway({
      instances: [
        instance('ws', ws.port),
        instance('broken', broken.port),
        instance('stale', stale.port),
        instance('closing', closing.port),
      ],
      routes: [
        route('ws', 'ws', '/ws'),
        route('broken', 'broken', '/broken'),
        route('stale', 'stale', '/stale'),
        route('closing', 'closing', '/closing'),
      ],
      policies: [policy('stale', { retry: { ...policy('stale').retry, maxAttempts: 1 } })],
    }));
  });

  afterAll(() => closeAll(proxy, ...servers));

  it('passes a WebSocket upgrade through and pipes both ways', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(
      'GET /ws HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: x\r\n\r\n',
    );
    await eventually(() => received.includes('welcome'));
    expect(received).toMatch(/^HTTP\/1\.1 101 /);
    expect(received).toMatch(/\r\nupgrade: websocket\r\n/i);
    socket.write('hello tunnel');
    await eventually(() => received.includes('HELLO TUNNEL'));
    socket.destroy();
  });

  it('answers 502 BAD_GATEWAY to a malformed upstream response', async () => {
    const response = await request(gateway.port, 'GET', '/broken');
    expect(response.status).toBe(502);
    expect(response.headers['x-trellis-error']).toBe('BAD_GATEWAY');
    expect(JSON.parse(response.body).error.code).toBe('BAD_GATEWAY');
  });

  it('sends an idempotent request again on a fresh connection when a reused one was closed under it', async () => {
    const client = await RawClient.open(gateway.port);
    staleRequests.length = 0;
    const before = stale.connections;
    for (let i = 0; i < 3; i++) {
      const response = await client.request('GET', '/stale');
      expect(response.status).toBe(200);
      expect(response.body).toBe('ok');
    }
    client.close();
    // The first on a new connection or an idle one that goes stale, each later one on a stale connection
    // and then a new one: the policy's maxAttempts 1 does not stop this resend.
    expect(stale.connections - before).toBeGreaterThanOrEqual(2);
    expect(staleRequests.filter((method) => method === 'GET').length).toBeGreaterThanOrEqual(5);
  });

  it('does not send a POST again outside the retry policy: the upstream may have acted on it', async () => {
    const client = await RawClient.open(gateway.port);
    // Leaves an idle pooled connection that has answered once, so the next request finds it stale.
    expect((await client.request('GET', '/stale')).status).toBe(200);
    staleRequests.length = 0;
    const response = await client.request('POST', '/stale', {}, 'data');
    expect(response.status).toBe(502);
    expect(response.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    // Read once, reset, never resent (maxAttempts 1).
    expect(staleRequests).toEqual(['POST']);
    client.close();
  });

  it('keeps the client connection when the upstream closes its own, and closes when the client asks', async () => {
    const client = await RawClient.open(gateway.port);
    for (let i = 0; i < 3; i++) {
      const response = await client.request('GET', '/closing');
      expect(response.body).toBe('closed');
      expect(response.headers.connection).toBe('keep-alive');
    }
    expect(closing.connections).toBe(3);
    const last = await client.request('GET', '/closing', { connection: 'close' });
    expect(last.headers.connection).toBe('close');
    await eventually(() => client.closed);
  });
});

describe('proxy lifecycle', () => {
  it('frees the concurrency slot of a client that went away', async () => {
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 300));
    const { proxy, gateway } = await startTestGateway({
      instances: [instance('one', slow.port)],
      routes: [route('one', 'one', '/')],
      policies: [policy('one', { concurrency: { maxInFlight: 1, maxPending: 0 } })],
    });
    try {
      const socket = connect(gateway.port, '127.0.0.1');
      socket.write('GET /a HTTP/1.1\r\nhost: t\r\n\r\n');
      await sleep(50);
      socket.destroy();
      await sleep(50);
      const response = await request(gateway.port, 'GET', '/b');
      expect(response.status).toBe(200);
      expect(response.body).toBe('late');
    } finally {
      await proxy.close();
      await slow.close();
    }
  });

  it('drains on close: the exchange in progress finishes with connection: close, new ones are refused', async () => {
    const slow = await startUpstream((_req, res) => setTimeout(() => res.end('done'), 200));
    const { proxy, gateway } = await startTestGateway({
      instances: [instance('one', slow.port)],
      routes: [route('one', 'one', '/')],
    });
    const idle = await RawClient.open(gateway.port);
    const inFlight = request(gateway.port, 'GET', '/slow', { headers: { connection: 'keep-alive' } });
    await sleep(50);
    const closed = proxy.close();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.body).toBe('done');
    expect(response.headers.connection).toBe('close');
    await closed;
    expect(idle.closed).toBe(true);
    await expect(rawExchange(gateway.port, 'GET / HTTP/1.1\r\nhost: t\r\n\r\n')).rejects.toThrow();
    await slow.close();
  });
});
