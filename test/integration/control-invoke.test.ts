/**
 * Service invocation on the control plane (the seed-compatible `call` and Dapr's `/v1.0/invoke`) and
 * the proxy's admin view, against real upstreams on 127.0.0.1, through the node's own proxy.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Client, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestControl, type TestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { echo, startUpstream, type Upstream } from './proxy-helpers.ts';

const ADMIN_TOKEN = 'invoke-test-admin-token-0123456789';
const LARGE = 8 * 1024 * 1024;

/**
 * Answers by path: /status/N with status N, /slow?ms=N after N ms, /slow-body?ms=N its head at once
 * and the end of its body after N ms, /big?bytes=N with N bytes, /stream echoes the body back;
 * anything else describes the request (echo).
 */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/big') {
    res.end(Buffer.alloc(Number(url.searchParams.get('bytes')), 'a'));
    return;
  }
  if (url.pathname.startsWith('/status/')) {
    res.statusCode = Number(url.pathname.slice('/status/'.length));
    res.setHeader('x-upstream', 'main');
    res.end(`status ${res.statusCode}`);
    return;
  }
  if (url.pathname === '/slow') {
    const timer = setTimeout(() => echo('main')(req, res), Number(url.searchParams.get('ms')));
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (url.pathname === '/slow-body') {
    // The head and the first bytes at once, the rest after ms.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first ');
    const timer = setTimeout(() => res.end('rest'), Number(url.searchParams.get('ms')));
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (url.pathname === '/stream') {
    // The body goes back as it arrives (chunked), with what was received described in the trailers'
    // stead: the url and headers up front, the hash at the end is checked by the caller.
    res.setHeader('x-url', req.url ?? '');
    res.setHeader('x-method', req.method ?? '');
    res.setHeader('x-seen-content-length', req.headers['content-length'] ?? 'none');
    res.setHeader('x-seen-custom', String(req.headers['x-custom'] ?? ''));
    res.setHeader('x-seen-authorization', String(req.headers.authorization ?? ''));
    res.setHeader('x-seen-token', String(req.headers['x-trellis-token'] ?? ''));
    res.setHeader('content-type', 'application/octet-stream');
    req.pipe(res);
    return;
  }
  echo('main')(req, res);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `size` bytes of random data as a stream of 64 KiB chunks, hashed as it goes. */
function randomBody(size: number): { stream: Readable; digest: () => string } {
  const hash = createHash('sha256');
  let left = size;
  const stream = new Readable({
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

describe('invocation on the control plane', { timeout: 60_000 }, () => {
  let node: TestControl;
  let secured: TestControl;
  let upstream: Upstream;
  let deadPort: number;

  beforeAll(async () => {
    upstream = await startUpstream(handler);
    deadPort = await freePort();
    const services = [
      { name: 'main', instances: [{ address: '127.0.0.1', port: upstream.port }] },
      { name: 'viewed', instances: [{ address: '127.0.0.1', port: upstream.port }] },
      {
        name: 'bounded',
        instances: [{ address: '127.0.0.1', port: upstream.port }],
        policy: { timeout: { requestMs: 300 } },
      },
      {
        name: 'flaky',
        instances: [
          { id: 'flaky-dead', address: '127.0.0.1', port: deadPort },
          { id: 'flaky-live', address: '127.0.0.1', port: upstream.port },
        ],
        policy: { loadBalancer: { kind: 'round-robin' } },
      },
    ];
    node = await startTestControl({ services, gateway: { enabled: false } });
    secured = await startTestControl({ services, control: { adminToken: ADMIN_TOKEN } });
  });

  afterAll(async () => {
    await node?.close();
    await secured?.close();
    await upstream?.close();
  });

  describe('POST /api/v1/mesh/v2/call', () => {
    it('answers a GET with the callee status, headers and body, passing headers through', async () => {
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: '/items?page=2',
        headers: { 'X-Custom': 'hello', 'x-trellis-deadline': String(Date.now() + 60_000) },
        retry_count: 3,
      });
      expect(res.status).toBe(200);
      expect(res.body.status_code).toBe(200);
      expect(res.body.headers['x-upstream']).toBe('main');
      expect(res.body.headers['content-type']).toBe('application/json');
      expect(res.body.headers.connection).toBeUndefined();
      expect(typeof res.body.duration).toBe('number');
      expect(res.body.duration_ms).toBeGreaterThan(0);
      expect(res.body.duration).toBeCloseTo(res.body.duration_ms / 1000, 2);
      const seen = JSON.parse(res.body.body);
      expect(seen).toMatchObject({ method: 'GET', url: '/items?page=2', body: '' });
      expect(seen.headers).toMatchObject({ 'x-custom': 'hello', host: 'main', via: '1.1 trellis' });
      expect(Number(seen.headers['x-trellis-deadline'])).toBeGreaterThan(Date.now());
    });

    it('sends a JSON body as JSON and a string body as is', async () => {
      const json = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        method: 'post',
        path: '/orders',
        body: { item: 'book', count: 2 },
      });
      expect(json.status).toBe(200);
      const seenJson = JSON.parse(json.body.body);
      expect(seenJson).toMatchObject({ method: 'POST', url: '/orders' });
      expect(JSON.parse(seenJson.body)).toEqual({ item: 'book', count: 2 });
      expect(seenJson.headers['content-type']).toBe('application/json');

      const text = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        method: 'PUT',
        path: '/notes',
        headers: { 'content-type': 'text/plain' },
        body: 'plain words',
      });
      const seenText = JSON.parse(text.body.body);
      expect(seenText).toMatchObject({ method: 'PUT', body: 'plain words' });
      expect(seenText.headers['content-type']).toBe('text/plain');
      expect(seenText.headers['content-length']).toBe('11');
    });

    it("passes the callee's own 404 through as status_code, not as a mesh error", async () => {
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: '/status/404',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-trellis-error')).toBeNull();
      expect(res.body).toMatchObject({ status_code: 404, body: 'status 404' });
      expect(res.body.headers['x-upstream']).toBe('main');
    });

    it('answers an unknown service with the mesh error, its status and x-trellis-error', async () => {
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', { service_name: 'nowhere' });
      expect(res.status).toBe(503);
      expect(res.headers.get('x-trellis-error')).toBe('NO_HEALTHY_UPSTREAM');
      expect(res.body.error.code).toBe('NO_HEALTHY_UPSTREAM');
      expect(res.body.error.message).toContain('nowhere');
    });

    it('rejects a bad body with 400 naming each bad field', async () => {
      const missing = await call(node.url, 'POST', '/api/v1/mesh/v2/call', { path: '/x' });
      expect(missing.status).toBe(400);
      expect(missing.body.error.code).toBe('BAD_REQUEST');
      expect(missing.body.error.details.map((d: { path: string }) => d.path)).toContain('service_name');

      const bad = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: 'no-slash',
        method: 'GET /',
        headers: { 'bad header': 'x' },
        timeout: 'soon',
      });
      expect(bad.status).toBe(400);
      const paths = bad.body.error.details.map((d: { path: string }) => d.path);
      expect(paths).toEqual(expect.arrayContaining(['path', 'method', 'headers.bad header', 'timeout']));

      const tooLong = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        timeout: 301,
      });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error.details[0]).toMatchObject({ path: 'timeout' });
    });

    it('answers UPSTREAM_TIMEOUT 504 when the callee is slower than the timeout', async () => {
      const slowMs = 5_000;
      const started = Date.now();
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: `/slow?ms=${slowMs}`,
        timeout: 0.3,
      });
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expect(res.headers.get('x-trellis-error')).toBe('UPSTREAM_TIMEOUT');
      expect(res.body.error.code).toBe('UPSTREAM_TIMEOUT');
      expect(elapsed).toBeLessThan(slowMs);

      const inTime = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: '/slow?ms=10',
        timeout: '5s',
      });
      expect(inTime.body.status_code).toBe(200);
    });

    it("is bounded by the service's own request timeout when that is shorter than the call's", async () => {
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'bounded',
        path: '/slow?ms=3000',
        timeout: 20,
      });
      expect(res.status).toBe(504);
      expect(res.body.error.code).toBe('UPSTREAM_TIMEOUT');
    });

    it('answers UPSTREAM_TIMEOUT 504 when the timeout passes while the body is still coming', async () => {
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: '/slow-body?ms=5000',
        timeout: 0.3,
      });
      expect(res.status).toBe(504);
      expect(res.headers.get('x-trellis-error')).toBe('UPSTREAM_TIMEOUT');
      expect(res.body.error.code).toBe('UPSTREAM_TIMEOUT');
    });

    it("continues the caller's trace context sent on the call request itself", async () => {
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const res = await call(
        node.url,
        'POST',
        '/api/v1/mesh/v2/call',
        { service_name: 'main', path: '/traced' },
        { traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate: 'vendor=1' },
      );
      expect(res.status).toBe(200);
      const seen = JSON.parse(res.body.body).headers;
      expect(seen.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(seen.tracestate).toBe('vendor=1');

      // A traceparent in the envelope's headers is the caller's choice and wins.
      const otherId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const explicit = await call(
        node.url,
        'POST',
        '/api/v1/mesh/v2/call',
        {
          service_name: 'main',
          path: '/traced',
          headers: { traceparent: `00-${otherId}-00f067aa0ba902b7-01` },
        },
        { traceparent: `00-${traceId}-b7ad6b7169203331-01`, tracestate: 'vendor=1' },
      );
      const seenExplicit = JSON.parse(explicit.body.body).headers;
      expect(seenExplicit.traceparent).toMatch(new RegExp(`^00-${otherId}-`));
      expect(seenExplicit.tracestate).toBeUndefined();
    });

    it('refuses a response larger than call holds, pointing at /v1.0/invoke', async () => {
      const fits = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: `/big?bytes=${LARGE}`,
      });
      expect(fits.status).toBe(200);
      expect(fits.body.body).toHaveLength(LARGE);

      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
        service_name: 'main',
        path: `/big?bytes=${LARGE + 1}`,
      });
      expect(res.status).toBe(502);
      expect(res.headers.get('x-trellis-error')).toBe('UPSTREAM_RESPONSE_TOO_LARGE');
      expect(res.body.error.message).toContain('/v1.0/invoke/');
    });

    it("applies the service's policy: a dead instance's connect failures are retried elsewhere", async () => {
      for (let i = 0; i < 10; i++) {
        const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', {
          service_name: 'flaky',
          path: '/',
        });
        expect(res.status).toBe(200);
        expect(res.body.status_code).toBe(200);
      }
      const view = await call(node.url, 'GET', '/api/v1/proxy/clusters/flaky');
      expect(view.status).toBe(200);
      const dead = view.body.endpoints.find((e: { id: string }) => e.id === 'flaky-dead');
      const live = view.body.endpoints.find((e: { id: string }) => e.id === 'flaky-live');
      expect(dead.failures).toBeGreaterThan(0);
      expect(live).toMatchObject({ failures: 0, breaker: 'closed', health: 'healthy', port: upstream.port });
      expect(live.requests).toBeGreaterThanOrEqual(10);
    });
  });

  describe('/v1.0/invoke/{service}/method/{path}', () => {
    it('streams an 8 MiB body both ways unchanged, with the query string and headers kept', async () => {
      const body = randomBody(LARGE);
      const res = await undiciRequest(`${node.url}/v1.0/invoke/main/method/stream?a=1&b=two%20words`, {
        method: 'POST',
        headers: { 'x-custom': 'kept', 'content-type': 'application/octet-stream' },
        body: body.stream,
      });
      const received = Buffer.from(await res.body.arrayBuffer());
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-url']).toBe('/stream?a=1&b=two%20words');
      expect(res.headers['x-method']).toBe('POST');
      expect(res.headers['x-seen-custom']).toBe('kept');
      expect(res.headers['content-type']).toBe('application/octet-stream');
      expect(received.length).toBe(LARGE);
      expect(sha256(received)).toBe(body.digest());
    });

    it('keeps a Content-Length body framed by its length', async () => {
      const data = randomBytes(LARGE);
      const res = await undiciRequest(`${node.url}/v1.0/invoke/main/method/stream`, {
        method: 'PUT',
        headers: { 'content-length': String(data.length) },
        body: data,
      });
      const received = Buffer.from(await res.body.arrayBuffer());
      expect(res.headers['x-method']).toBe('PUT');
      expect(res.headers['x-seen-content-length']).toBe(String(LARGE));
      expect(sha256(received)).toBe(sha256(data));
    });

    it('passes the status, method and path through, with the path after /method', async () => {
      const teapot = await fetch(`${node.url}/v1.0/invoke/main/method/status/418`, { method: 'DELETE' });
      expect(teapot.status).toBe(418);
      expect(await teapot.text()).toBe('status 418');

      const root = await fetch(`${node.url}/v1.0/invoke/main/method?q=1`, { method: 'PATCH', body: 'x' });
      const seen = (await root.json()) as { method: string; url: string; body: string };
      expect(seen).toMatchObject({ method: 'PATCH', url: '/?q=1', body: 'x' });
    });

    it('resolves the service name case-insensitively, as DNS names are, on both forms', async () => {
      const dapr = await fetch(`${node.url}/v1.0/invoke/Main/method/items`);
      expect(dapr.status).toBe(200);
      expect(dapr.headers.get('x-upstream')).toBe('main');
      const res = await call(node.url, 'POST', '/api/v1/mesh/v2/call', { service_name: 'MAIN', path: '/x' });
      expect(res.body).toMatchObject({ status_code: 200, headers: { 'x-upstream': 'main' } });
      expect(JSON.parse(res.body.body).headers.host).toBe('MAIN');
    });

    it('answers mesh failures as mesh errors and a malformed path as 404', async () => {
      const unknown = await fetch(`${node.url}/v1.0/invoke/nowhere/method/x`);
      expect(unknown.status).toBe(503);
      expect(unknown.headers.get('x-trellis-error')).toBe('NO_HEALTHY_UPSTREAM');
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('NO_HEALTHY_UPSTREAM');

      // Answered before the body is read: the error arrives, and the connection stays usable (the
      // rest of the body is drained), so the next request on it is answered.
      const client = new Client(node.url);
      try {
        const withBody = await client.request({
          path: '/v1.0/invoke/nowhere/method/x',
          method: 'POST',
          body: randomBytes(LARGE),
        });
        expect(withBody.statusCode).toBe(503);
        expect(withBody.headers['x-trellis-error']).toBe('NO_HEALTHY_UPSTREAM');
        await withBody.body.text();
        const next = await client.request({ path: '/v1.0/invoke/main/method/after', method: 'GET' });
        expect(next.statusCode).toBe(200);
        expect(((await next.body.json()) as { url: string }).url).toBe('/after');
      } finally {
        await client.close();
      }

      const malformed = await fetch(`${node.url}/v1.0/invoke/main/items`);
      expect(malformed.status).toBe(404);
      expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    });

    it('needs the admin token when one is set, and never forwards it', async () => {
      const denied = await fetch(`${secured.url}/v1.0/invoke/main/method/stream`, {
        method: 'POST',
        body: 'x',
      });
      expect(denied.status).toBe(401);

      const bearer = await fetch(`${secured.url}/v1.0/invoke/main/method/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-custom': 'c' },
        body: 'payload',
      });
      expect(bearer.status).toBe(200);
      expect(await bearer.text()).toBe('payload');
      expect(bearer.headers.get('x-seen-authorization')).toBe('');
      expect(bearer.headers.get('x-seen-custom')).toBe('c');

      // With the token in X-Trellis-Token, the caller's own Authorization is the callee's.
      const own = await fetch(`${secured.url}/v1.0/invoke/main/method/stream`, {
        method: 'POST',
        headers: { 'x-trellis-token': ADMIN_TOKEN, authorization: 'Basic dXNlcjpwdw==' },
        body: 'payload',
      });
      expect(own.status).toBe(200);
      expect(own.headers.get('x-seen-authorization')).toBe('Basic dXNlcjpwdw==');
      expect(own.headers.get('x-seen-token')).toBe('');
    });
  });

  describe('GET /api/v1/proxy/clusters', () => {
    it("shows each cluster's endpoints with health, breaker, ejection, load and outcomes", async () => {
      for (let i = 0; i < 3; i++) {
        await call(node.url, 'POST', '/api/v1/mesh/v2/call', { service_name: 'viewed', path: '/' });
      }
      const res = await call(node.url, 'GET', '/api/v1/proxy/clusters');
      expect(res.status).toBe(200);
      const services = res.body.clusters.map((c: { service: string }) => c.service);
      expect(services).toEqual([...services].sort());
      expect(services).toEqual(expect.arrayContaining(['main', 'flaky', 'viewed']));
      const viewed = res.body.clusters.find((c: { service: string }) => c.service === 'viewed');
      expect(viewed).toMatchObject({ balancer: 'ewma', inFlight: 0, pending: 0 });
      expect(viewed.limits).toEqual({ maxInFlight: 1024, maxPending: 1024 });
      expect(viewed.endpoints).toHaveLength(1);
      const endpoint = viewed.endpoints[0];
      expect(endpoint).toMatchObject({
        address: '127.0.0.1',
        port: upstream.port,
        health: 'healthy',
        weight: 100,
        breaker: 'closed',
        ejected: false,
        ejectedUntil: null,
        inRotation: true,
        inFlight: 0,
        requests: 3,
        failures: 0,
      });
      expect(endpoint.latencyMs).toBeGreaterThanOrEqual(0);
      expect(endpoint.connections.open).toBeGreaterThanOrEqual(1);

      const missing = await call(node.url, 'GET', '/api/v1/proxy/clusters/never-called');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('NOT_FOUND');
    });
  });
});
