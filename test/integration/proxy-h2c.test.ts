import { createHash } from 'node:crypto';
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route, ServicePolicy } from '../../src/core/index.ts';
import type { ProxyListener, StaticSource, TrellisProxy } from '../../src/proxy/index.ts';
import { startDualUpstream } from '../helpers/dual-upstream.ts';
import { type H2Upstream, startH2Upstream } from '../helpers/h2-upstream.ts';
import { freePort } from '../helpers/ports.ts';
import {
  closeAll,
  plainPolicy,
  quickRetryPolicy,
  serviceRoute,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import {
  echo,
  eventually,
  instance,
  parseResponses,
  policy,
  RawClient,
  rawExchange,
  request,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

/**
 * Answers with JSON describing the request as the upstream saw it; a few paths do other things:
 * `/status/N`, `/delay?ms=N`, `/stream` (the body back, streamed), `/big` (4 MiB, streamed),
 * `/trailers`, `/early` (103 first), `/cookies`, `/length` (content-length, for HEAD).
 */
function h2echo(name: string): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url, 'http://x');
    res.setHeader('x-upstream', name);
    if (url.pathname.startsWith('/status/')) {
      res.statusCode = Number(url.pathname.slice(8));
      if (res.statusCode === 204 || res.statusCode === 304) res.end();
      else res.end(`status ${res.statusCode}`);
      return;
    }
    if (url.pathname === '/stream') {
      req.pipe(res);
      return;
    }
    if (url.pathname === '/big') {
      let sent = 0;
      const pump = (): void => {
        while (sent < BIG.length) {
          const ok = res.write(BIG.subarray(sent, sent + 64 * 1024));
          sent += 64 * 1024;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/endless') {
      // Up to 256 MiB, as fast as the stream takes it.
      endlessSent = 0;
      const pump = (): void => {
        while (endlessSent < 256 * 1024 * 1024 && !res.stream.destroyed) {
          endlessSent += ZEROS.length;
          if (!res.write(ZEROS)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === '/trailers') {
      res.addTrailers({ 'x-sum': 'abc' });
      res.write('with ');
      res.end('trailers');
      return;
    }
    if (url.pathname === '/early') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.end('after hints');
      return;
    }
    if (url.pathname === '/cookies') {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end('cookies');
      return;
    }
    if (url.pathname === '/length') {
      res.setHeader('content-length', '5');
      if (req.method === 'HEAD') res.end();
      else res.end('hello');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = (): void => {
        if (res.closed || res.stream.destroyed) return;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            name,
            method: req.method,
            path: req.url,
            authority: req.authority,
            scheme: req.scheme,
            headers: req.headers,
            trailers: req.trailers,
            body: Buffer.concat(chunks).toString('latin1'),
          }),
        );
      };
      const delay = Number(url.searchParams.get('ms') ?? 0);
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
  };
}

/** Sends `pieces` on one connection 20 ms apart and returns all that comes back until it closes. */
function rawPieces(port: number, pieces: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.setTimeout(5_000, () => socket.destroy());
    let next = 0;
    const send = (): void => {
      socket.write(pieces[next++]!);
      if (next < pieces.length) setTimeout(send, 20);
    };
    socket.once('connect', send);
  });
}

/** Bytes `/endless` has handed to its stream so far. */
let endlessSent = 0;
const ZEROS = Buffer.alloc(64 * 1024);
const BIG = Buffer.alloc(4 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 12)) & 0xff;
const BIG_HASH = createHash('sha256').update(BIG).digest('hex');

/** The paths under `/<service>/`, the prefix stripped. */
function route(service: string): Route {
  return { ...serviceRoute(service), match: { path: { prefix: `/${service}/` } } };
}

/** h2c, round-robin, no breaker, no outlier detection, no retries: each test turns on what it looks at. */
function h2c(service: string, changes: Parameters<typeof plainPolicy>[1] = {}): ServicePolicy {
  return plainPolicy(service, { upstreamProtocol: 'h2c', ...changes });
}

function retry(changes: Partial<ServicePolicy['retry']>): ServicePolicy['retry'] {
  return quickRetryPolicy('x', changes);
}

describe('proxy to h2c upstreams', () => {
  let a: H2Upstream;
  let b: H2Upstream;
  let refuser: H2Upstream;
  let failing: H2Upstream;
  let slow: H2Upstream;
  let limited: H2Upstream;
  let idle: H2Upstream;
  let leaving: H2Upstream;
  let stale: H2Upstream;
  let held: H2Upstream;
  /** Streams of `held` that closed before it answered them. */
  let heldCancelled = 0;
  let dual: Awaited<ReturnType<typeof startDualUpstream>>;
  let h1: Upstream;
  let deadPort: number;
  let source: StaticSource;
  let policies: ServicePolicy[];
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let outbound: ProxyListener;
  let inbound: ProxyListener;

  beforeAll(async () => {
    a = await startH2Upstream(h2echo('a'));
    b = await startH2Upstream(h2echo('b'));
    refuser = await startH2Upstream((req) => req.stream.close(constants.NGHTTP2_REFUSED_STREAM));
    failing = await startH2Upstream((_req, res) => {
      res.statusCode = 503;
      res.setHeader('x-upstream', 'failing');
      res.end('unavailable');
    });
    slow = await startH2Upstream((req, res) => {
      const timer = setTimeout(() => h2echo('slow')(req, res), 2_000);
      req.stream.on('close', () => clearTimeout(timer));
    });
    limited = await startH2Upstream(
      (req, res) => {
        const timer = setTimeout(() => h2echo('limited')(req, res), 50);
        req.stream.on('close', () => clearTimeout(timer));
      },
      { settings: { maxConcurrentStreams: 2 } },
    );
    idle = await startH2Upstream(h2echo('idle'));
    leaving = await startH2Upstream(h2echo('leaving'));
    // Serves one stream per session; a second one finds the session dropped under it, as when an
    // upstream closes an idle connection just as a request goes out.
    const served = new WeakSet<object>();
    stale = await startH2Upstream((req, res) => {
      const session = req.stream.session!;
      if (served.has(session)) {
        session.destroy();
        return;
      }
      served.add(session);
      h2echo('stale')(req, res);
    });
    held = await startH2Upstream((req, res) => {
      const timer = setTimeout(() => h2echo('held')(req, res), 1_000);
      req.stream.on('close', () => {
        clearTimeout(timer);
        if (!res.headersSent) heldCancelled++;
      });
    });
    dual = await startDualUpstream();
    h1 = await startUpstream(echo('h1'));
    deadPort = await freePort();

    const instances = [
      instance('h2', a.port),
      instance('rr', a.port),
      instance('rr', b.port),
      instance('refused', refuser.port),
      instance('refused', b.port),
      instance('refused-only', refuser.port),
      instance('refused-post', refuser.port),
      instance('stale', stale.port),
      instance('held', held.port),
      instance('overflow', held.port),
      instance('dead', deadPort),
      instance('dead', a.port),
      instance('dead-only', deadPort),
      instance('status', failing.port),
      instance('status', b.port),
      instance('pertry-one', slow.port),
      instance('pertry-two', slow.port),
      instance('pertry-two', a.port),
      instance('deadline', a.port),
      instance('limited', limited.port),
      instance('idle', idle.port),
      instance('leaving', leaving.port),
      instance('switch', dual.port),
      instance('plain', h1.port),
    ];
    policies = [
      h2c('h2'),
      h2c('rr'),
      h2c('refused', { retry: retry({ maxAttempts: 2 }) }),
      h2c('refused-only'),
      h2c('refused-post', { retry: retry({ maxAttempts: 2 }) }),
      h2c('stale'),
      h2c('held'),
      h2c('overflow', { concurrency: { maxInFlight: 1, maxPending: 0 } }),
      h2c('dead', { retry: retry({ maxAttempts: 2 }) }),
      h2c('dead-only'),
      h2c('status', { retry: retry({ maxAttempts: 2 }) }),
      h2c('pertry-one', { retry: retry({ perTryTimeoutMs: 150 }) }),
      h2c('pertry-two', { retry: retry({ maxAttempts: 2, perTryTimeoutMs: 150 }) }),
      h2c('deadline', { timeout: { requestMs: 300, idleMs: 0 } }),
      h2c('limited'),
      h2c('idle', { timeout: { requestMs: 5_000, idleMs: 200 } }),
      h2c('leaving', { retry: retry({ maxAttempts: 2 }) }),
      { ...h2c('switch'), upstreamProtocol: 'http1' },
      policy('plain', { loadBalancer: { kind: 'round-robin' } }),
    ];
    const services = [...new Set(instances.map((i) => i.service))];
    ({ proxy, source, gateway } = await startTestGateway({
      instances,
      policies,
      routes: services.map(route),
    }));
    outbound = await proxy.outbound({ port: 0 });
    inbound = await proxy.inbound({
      port: 0,
      app: { address: '127.0.0.1', port: b.port },
      policy: h2c('app'),
    });
  });

  afterAll(() =>
    closeAll(proxy, a, b, refuser, failing, slow, limited, idle, leaving, stale, held, dual, h1),
  );

  it('forwards a GET as an HTTP/2 stream: pseudo-headers, forwarding fields, no hop-by-hop fields', async () => {
    const before = Date.now();
    const response = await request(gateway.port, 'GET', '/h2/items?id=7', {
      headers: {
        host: 'shop.example',
        'x-custom': 'kept',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        te: 'trailers, gzip',
        'x-forwarded-for': '10.1.1.1',
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-upstream']).toBe('a');
    expect(response.headers['content-type']).toBe('application/json');
    const seen = JSON.parse(response.body);
    expect(seen).toMatchObject({
      method: 'GET',
      path: '/items?id=7',
      authority: 'shop.example',
      scheme: 'http',
    });
    expect(seen.headers).toMatchObject({
      'x-custom': 'kept',
      'x-forwarded-for': '10.1.1.1, 127.0.0.1',
      'x-forwarded-proto': 'http',
      via: '1.1 trellis',
      te: 'trailers',
    });
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'host', 'transfer-encoding']) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    const deadline = Number(seen.headers['x-trellis-deadline']);
    expect(deadline).toBeGreaterThanOrEqual(before + 14_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it('forwards bodies (content-length and chunked), statuses, HEAD, cookies, trailers and 103', async () => {
    const posted = await request(gateway.port, 'POST', '/h2/form', { body: 'a=1&b=2' });
    expect(JSON.parse(posted.body)).toMatchObject({ method: 'POST', body: 'a=1&b=2' });
    expect(JSON.parse(posted.body).headers['content-length']).toBe('7');

    const [chunked] = parseResponses(
      await rawExchange(
        gateway.port,
        'POST /h2/chunks HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n' +
          '5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n',
      ),
    );
    const seen = JSON.parse(chunked.body);
    expect(seen.body).toBe('hello, world');
    expect(seen.headers['transfer-encoding']).toBeUndefined();
    // Trailers nobody announced are not sent on.
    expect(seen.trailers).toEqual({});

    // Announced (Trailer), they go on as HTTP/2 trailers, split anywhere, without forbidden fields.
    const announced =
      'POST /h2/chunks HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n' +
      'trailer: x-checksum, server-timing\r\n\r\n' +
      '5\r\nhello\r\n0\r\nX-Checksum: abc\r\nserver-timing: db;dur=5\r\ncontent-length: 9\r\n\r\n';
    for (const pieces of [[announced], [announced.slice(0, -20), announced.slice(-20)]]) {
      const [withTrailers] = parseResponses(await rawPieces(gateway.port, pieces));
      const received = JSON.parse(withTrailers.body);
      expect(received.body).toBe('hello');
      expect(received.trailers).toEqual({ 'x-checksum': 'abc', 'server-timing': 'db;dur=5' });
    }
    // Announced but none came: the stream still ends (with an empty trailer section).
    const [empty] = parseResponses(
      await rawExchange(
        gateway.port,
        'POST /h2/chunks HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n' +
          'trailer: x-checksum\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      ),
    );
    expect(JSON.parse(empty.body)).toMatchObject({ body: 'abc', trailers: {} });

    for (const status of [201, 404, 500]) {
      const response = await request(gateway.port, 'GET', `/h2/status/${status}`);
      expect(response.status).toBe(status);
      expect(response.body).toBe(`status ${status}`);
    }
    const client = await RawClient.open(gateway.port);
    try {
      const noContent = await client.request('GET', '/h2/status/204');
      expect(noContent.status).toBe(204);
      expect(noContent.body).toBe('');
      const head = await client.request('HEAD', '/h2/length');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('5');
      expect(head.body).toBe('');
      const get = await client.request('GET', '/h2/length');
      expect(get.body).toBe('hello');
      expect(get.headers['transfer-encoding']).toBeUndefined();
      const cookies = await client.request('GET', '/h2/cookies');
      expect(cookies.headers['set-cookie']).toBe('a=1, b=2');
      expect(cookies.raw).toContain('set-cookie: a=1\r\nset-cookie: b=2\r\n');
    } finally {
      client.close();
    }

    const trailers = await rawExchange(
      gateway.port,
      'GET /h2/trailers HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n',
    );
    expect(trailers).toContain('transfer-encoding: chunked');
    expect(trailers).toContain('0\r\nx-sum: abc\r\n\r\n');
    expect(parseResponses(trailers)[0].body).toBe('with trailers');

    const early = await rawExchange(
      gateway.port,
      'GET /h2/early HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n',
    );
    expect(
      early.startsWith(
        'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n',
      ),
    ).toBe(true);
    expect(early.endsWith('after hints\r\n0\r\n\r\n')).toBe(true);
  });

  it('streams a 4 MiB body both ways, and a 4 MiB response to an HTTP/1.0 client until close', async () => {
    const raw = await rawExchange(
      gateway.port,
      Buffer.concat([
        Buffer.from(
          `POST /h2/stream HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: ${BIG.length}\r\n\r\n`,
        ),
        BIG,
      ]),
      20_000,
    );
    const [echoed] = parseResponses(raw);
    expect(echoed.status).toBe(200);
    expect(echoed.headers['transfer-encoding']).toBe('chunked');
    const body = Buffer.from(echoed.body, 'latin1');
    expect(body.length).toBe(BIG.length);
    expect(createHash('sha256').update(body).digest('hex')).toBe(BIG_HASH);

    const old = await rawExchange(gateway.port, 'GET /h2/big HTTP/1.0\r\nhost: t\r\n\r\n', 20_000);
    const [response] = parseResponses(old);
    expect(response.headers.connection).toBe('close');
    expect(response.headers['transfer-encoding']).toBeUndefined();
    expect(createHash('sha256').update(Buffer.from(response.body, 'latin1')).digest('hex')).toBe(BIG_HASH);
  });

  it('gives a client that paused reading the whole body when it reads on', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.pause();
    socket.write('GET /h2/big HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.resume();
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const [response] = parseResponses(Buffer.concat(chunks).toString('latin1'));
    expect(createHash('sha256').update(Buffer.from(response.body, 'latin1')).digest('hex')).toBe(BIG_HASH);
  });

  it('stops reading the upstream stream while the client does not read (flow control)', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.pause();
    socket.write('GET /h2/endless HTTP/1.1\r\nhost: t\r\n\r\n');
    await eventually(() => endlessSent > 0);
    // Loopback socket buffers take a few MiB; without backpressure the upstream would send on.
    let last = -1;
    await eventually(async () => {
      const now = endlessSent;
      const still = now === last;
      last = now;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return still;
    });
    expect(endlessSent).toBeLessThan(64 * 1024 * 1024);
    socket.destroy();
  });

  it('keeps the client connection alive across h2c and HTTP/1.1 exchanges, pipelined too', async () => {
    const client = await RawClient.open(gateway.port);
    try {
      for (let i = 0; i < 3; i++) {
        expect((await client.request('GET', `/h2/k${i}`)).headers['x-upstream']).toBe('a');
        expect((await client.request('GET', `/plain/k${i}`)).headers['x-upstream']).toBe('h1');
      }
    } finally {
      client.close();
    }
    const raw = await rawExchange(
      gateway.port,
      'POST /h2/one HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc' +
        'GET /plain/two HTTP/1.1\r\nhost: t\r\n\r\n' +
        'GET /h2/three HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n',
    );
    const responses = parseResponses(raw);
    expect(responses.map((r) => [r.status, r.headers['x-upstream']])).toEqual([
      [200, 'a'],
      [200, 'h1'],
      [200, 'a'],
    ]);
    expect(JSON.parse(responses[0].body).body).toBe('abc');
  });

  it('multiplexes concurrent requests over one session per endpoint', async () => {
    await request(gateway.port, 'GET', '/rr/warm');
    await request(gateway.port, 'GET', '/rr/warm');
    const sessionsBefore = a.sessions + b.sessions;
    const concurrentBefore = Math.max(a.maxConcurrent, b.maxConcurrent);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => request(gateway.port, 'GET', `/rr/m${i}?ms=100`)),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const counts: Record<string, number> = {};
    for (const r of responses) counts[r.headers['x-upstream']] = (counts[r.headers['x-upstream']] ?? 0) + 1;
    expect(counts).toEqual({ a: 20, b: 20 });
    expect(a.sessions + b.sessions).toBe(sessionsBefore);
    expect(Math.max(a.maxConcurrent, b.maxConcurrent)).toBeGreaterThan(Math.max(1, concurrentBefore));
  });

  it("opens another session only when the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached", async () => {
    await request(gateway.port, 'GET', '/limited/warm');
    expect(limited.sessions).toBe(1);
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => request(gateway.port, 'GET', `/limited/c${i}`)),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(limited.maxConcurrent).toBeLessThanOrEqual(2);
    // Two streams per session: the warm one takes two, and two more sessions the other four.
    expect(limited.sessions).toBe(3);
  });

  it('retries a stream refused with RST_STREAM on another endpoint, or answers UPSTREAM_RESET', async () => {
    for (let i = 0; i < 6; i++) {
      const response = await request(gateway.port, 'GET', `/refused/r${i}`);
      expect(response.status).toBe(200);
      expect(response.headers['x-upstream']).toBe('b');
    }
    const posted = await request(gateway.port, 'POST', '/refused/p', { body: 'payload' });
    expect(JSON.parse(posted.body)).toMatchObject({ name: 'b', body: 'payload' });
    const refused = await request(gateway.port, 'GET', '/refused-only/x');
    expect(refused.status).toBe(502);
    expect(refused.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    expect(JSON.parse(refused.body).error.code).toBe('UPSTREAM_RESET');
  });

  it('retries a refused POST only when its body was buffered for a retry', async () => {
    let before = refuser.streams;
    const small = await request(gateway.port, 'POST', '/refused-post/x', { body: 'small' });
    expect(small.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    expect(refuser.streams - before).toBe(2);

    before = refuser.streams;
    const large = await request(gateway.port, 'POST', '/refused-post/x', {
      body: Buffer.alloc(256 * 1024, 'x'),
    });
    expect(large.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    expect(refuser.streams - before).toBe(1);
  });

  it('sends an idempotent request again on a new session when its session went away under it, not a POST', async () => {
    const client = await RawClient.open(gateway.port);
    try {
      expect((await client.request('GET', '/stale/1')).status).toBe(200);
      // The session served a stream: the next one on it is dropped with the session, and resent.
      const again = await client.request('GET', '/stale/2');
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body)).toMatchObject({ name: 'stale', method: 'GET' });
      expect(stale.sessions).toBe(2);
      // A POST may have been acted on before the session went: only the retry policy (here
      // maxAttempts 1) may send it again.
      const posted = await client.request('POST', '/stale/3', {}, 'once');
      expect(posted.status).toBe(502);
      expect(posted.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
      expect(stale.sessions).toBe(2);
    } finally {
      client.close();
    }
  });

  it('cancels the upstream stream and frees the slot when the client goes away', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    const before = held.streams;
    socket.write('GET /held/x HTTP/1.1\r\nhost: t\r\n\r\n');
    await eventually(() => held.streams === before + 1);
    socket.destroy();
    await eventually(() => heldCancelled === 1);
    await eventually(() => proxy.clusters.get('held')?.limiter.inFlight === 0);
  });

  it('answers OVERFLOW at the concurrency limit', async () => {
    const before = held.streams;
    const first = request(gateway.port, 'GET', '/overflow/1');
    await eventually(() => held.streams === before + 1);
    const second = await request(gateway.port, 'GET', '/overflow/2');
    expect(second.status).toBe(503);
    expect(second.headers['x-trellis-error']).toBe('OVERFLOW');
    expect((await first).status).toBe(200);
  });

  it('retries a connect failure and a 503 per policy, and answers UPSTREAM_CONNECT_FAILED', async () => {
    for (let i = 0; i < 4; i++) {
      expect((await request(gateway.port, 'GET', `/dead/d${i}`)).headers['x-upstream']).toBe('a');
      expect((await request(gateway.port, 'GET', `/status/s${i}`)).headers['x-upstream']).toBe('b');
    }
    const dead = await request(gateway.port, 'GET', '/dead-only/x');
    expect(dead.status).toBe(502);
    expect(dead.headers['x-trellis-error']).toBe('UPSTREAM_CONNECT_FAILED');
  });

  it('answers UPSTREAM_TIMEOUT after the per-try timeout, or retries on another endpoint', async () => {
    const timedOut = await request(gateway.port, 'GET', '/pertry-one/x');
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers['x-trellis-error']).toBe('UPSTREAM_TIMEOUT');
    for (let i = 0; i < 4; i++) {
      const response = await request(gateway.port, 'GET', `/pertry-two/p${i}`);
      expect(response.status).toBe(200);
      expect(response.headers['x-upstream']).toBe('a');
    }
    const late = await request(gateway.port, 'GET', '/deadline/x?ms=1500');
    expect(late.status).toBe(504);
    expect(late.headers['x-trellis-error']).toBe('UPSTREAM_TIMEOUT');
  });

  it('reconnects after the upstream sends GOAWAY or drops its sessions', async () => {
    expect((await request(gateway.port, 'GET', '/leaving/1')).status).toBe(200);
    expect(leaving.sessions).toBe(1);
    leaving.goaway();
    await eventually(() => leaving.openSessions === 0);
    expect((await request(gateway.port, 'GET', '/leaving/2')).status).toBe(200);
    expect(leaving.sessions).toBe(2);

    // Cut without GOAWAY: the session is gone when the next request comes, or goes as it is sent.
    await leaving.close();
    const down = await request(gateway.port, 'GET', '/leaving/3');
    expect(down.status).toBe(502);
    expect(down.headers['x-trellis-error']).toBe('UPSTREAM_CONNECT_FAILED');
    leaving = await startH2Upstream(h2echo('leaving'), { port: leaving.port });
    expect((await request(gateway.port, 'GET', '/leaving/4')).status).toBe(200);
  });

  it('closes a session left idle for the policy idle timeout', async () => {
    expect((await request(gateway.port, 'GET', '/idle/x')).status).toBe(200);
    expect(idle.openSessions).toBe(1);
    await eventually(() => idle.openSessions === 0, 5_000);
    expect((await request(gateway.port, 'GET', '/idle/y')).status).toBe(200);
    expect(idle.sessions).toBe(2);
    // The same idle timeout bounds an exchange with no bytes either way.
    const quiet = await request(gateway.port, 'GET', '/idle/z?ms=1500');
    expect(quiet.status).toBe(504);
    expect(JSON.parse(quiet.body).error.message).toContain('idle');
  });

  it('answers a WebSocket upgrade to an h2c service with 501 UPGRADE_NOT_SUPPORTED', async () => {
    const client = await RawClient.open(gateway.port);
    try {
      const response = await client.send(
        'GET /h2/ws HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n' +
          'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      expect(response.status).toBe(501);
      expect(response.headers['x-trellis-error']).toBe('UPGRADE_NOT_SUPPORTED');
      expect(JSON.parse(response.body).error.code).toBe('UPGRADE_NOT_SUPPORTED');
      // The connection stays usable.
      expect((await client.request('GET', '/h2/after')).status).toBe(200);
    } finally {
      client.close();
    }
  });

  it('switches a service from http1 to h2c and back at runtime through the source', async () => {
    const proto = async (): Promise<string> =>
      (await request(gateway.port, 'GET', '/switch/x')).headers['x-proto'] ?? '?';
    expect(await proto()).toBe('h1');
    const others = policies.filter((p) => p.service !== 'switch');
    source.update({ policies: [...others, h2c('switch')] });
    await eventually(async () => (await proto()) === 'h2');
    expect(await proto()).toBe('h2');
    source.update({ policies: [...others, { ...h2c('switch'), upstreamProtocol: 'http1' }] });
    await eventually(async () => (await proto()) === 'h1');
    expect(proxy.clusters.get('switch')?.h2c).toBe(false);
  });

  it('leaves an http1 service on HTTP/1.1', async () => {
    const response = await request(gateway.port, 'GET', '/plain/x', { headers: { host: 'shop.example' } });
    expect(response.headers['x-upstream']).toBe('h1');
    const seen = JSON.parse(response.body);
    expect(seen.headers.host).toBe('shop.example');
    expect(seen.headers.via).toBe('1.1 trellis');
    expect(proxy.clusters.get('plain')?.h2c).toBe(false);
    expect(proxy.clusters.get('plain')?.endpoints[0].h2).toBeNull();
    expect(h1.requests).toBeGreaterThan(0);
  });

  it('speaks h2c from the outbound and inbound listeners too', async () => {
    const out = await request(outbound.port, 'GET', '/items', { headers: { host: 'h2' } });
    expect(out.status).toBe(200);
    expect(JSON.parse(out.body)).toMatchObject({ name: 'a', path: '/items', authority: 'h2' });
    const dapr = await request(outbound.port, 'POST', '/v1.0/invoke/h2/method/orders', { body: 'x' });
    expect(JSON.parse(dapr.body)).toMatchObject({ name: 'a', path: '/orders', body: 'x' });
    const into = await request(inbound.port, 'GET', '/local', { headers: { host: 'app.local' } });
    expect(into.status).toBe(200);
    expect(JSON.parse(into.body)).toMatchObject({ name: 'b', path: '/local', authority: 'app.local' });
  });

  it('answers 100 Continue from the upstream to a client that expects it', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    const received: Buffer[] = [];
    let sent = false;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (!sent && Buffer.concat(received).toString('latin1').includes('100 Continue')) {
        sent = true;
        socket.write('body');
      }
    });
    socket.write(
      'POST /h2/expect HTTP/1.1\r\nhost: t\r\nconnection: close\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n',
    );
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const raw = Buffer.concat(received).toString('latin1');
    expect(raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    const [response] = parseResponses(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(JSON.parse(response.body).body).toBe('body');
  });
});
