/**
 * Metrics of real traffic: requests through a gateway, an outbound and an inbound listener of one
 * proxy to real upstreams, then the proxy's own /metrics port is scraped and read back.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricsServer, ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { serveMetrics } from '../../src/proxy/listeners/metrics-listener.ts';
import { type Exposition, parseExposition } from '../helpers/exposition.ts';
import { freePort } from '../helpers/ports.ts';
import {
  closeAll,
  createTestProxy,
  plainPolicy as plain,
  quickRetryPolicy as retry,
  serviceRoute as route,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import {
  echo,
  instance,
  policy,
  RawClient,
  rawExchange,
  request,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

const gw = (service: string) => ({ service, route: service, direction: 'gateway' });

describe('proxy metrics from real traffic', () => {
  const upstreams: Upstream[] = [];
  let ok: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let outbound: ProxyListener;
  let inbound: ProxyListener;
  let metricsServer: MetricsServer;

  async function scrape(): Promise<Exposition> {
    const response = await fetch(metricsServer.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return parseExposition(await response.text());
  }

  beforeAll(async () => {
    ok = await startUpstream(echo('ok'));
    const notFound = await startUpstream((_req, res) => {
      res.statusCode = 404;
      res.end('no such thing');
    });
    const failing = await startUpstream((_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const slow = await startUpstream((req, res) => {
      setTimeout(() => echo('slow')(req, res), 300);
    });
    upstreams.push(ok, notFound, failing, slow);
    const deadPort = await freePort();

    const instances = [
      instance('ok', ok.port),
      instance('ok', ok.port, { id: 'ok-degraded', health: 'degraded' }),
      instance('missing', notFound.port),
      instance('retry', deadPort),
      instance('budget', deadPort),
      instance('breaker', failing.port),
      instance('outlier', failing.port, { id: 'outlier-failing' }),
      instance('outlier', ok.port, { id: 'outlier-ok' }),
      instance('overflow', slow.port),
      instance('slow', slow.port),
    ];
    const policies = [
      plain('ok'),
      plain('missing'),
      plain('retry', { retry: retry('retry', { maxAttempts: 3 }) }),
      plain('budget', { retry: retry('budget', { maxAttempts: 3, budget: { ratio: 0, minPerSecond: 0 } }) }),
      plain('breaker', {
        circuitBreaker: {
          ...policy('breaker').circuitBreaker,
          enabled: true,
          consecutiveFailures: 2,
          recoveryTimeMs: 60_000,
        },
      }),
      plain('outlier', {
        outlierDetection: {
          enabled: true,
          consecutiveErrors: 2,
          baseEjectionTimeMs: 60_000,
          maxEjectionTimeMs: 60_000,
          maxEjectionPercent: 50,
        },
      }),
      plain('overflow', { concurrency: { maxInFlight: 1, maxPending: 0 } }),
      plain('slow'),
    ];
    const services = [...new Set(instances.map((i) => i.service))];
    ({ proxy, gateway } = await startTestGateway({ instances, policies, routes: services.map(route) }));
    outbound = await proxy.outbound({ port: 0 });
    inbound = await proxy.inbound({
      port: 0,
      app: { address: '127.0.0.1', port: ok.port },
      service: 'ok-app',
    });
    metricsServer = await proxy.serveMetrics({ port: 0 });
  });

  afterAll(() => closeAll(proxy, ...upstreams));

  it('counts requests by service, route, method, status class and direction, and times them', async () => {
    const started = performance.now();
    const client = await RawClient.open(gateway.port);
    for (let i = 0; i < 3; i++) expect((await client.request('GET', '/ok/items')).status).toBe(200);
    expect((await client.request('POST', '/ok/items', {}, '{"n":1}')).status).toBe(200);
    client.close();
    const elapsedSeconds = (performance.now() - started) / 1000;
    expect((await request(gateway.port, 'GET', '/missing/x')).status).toBe(404);

    const text = await scrape();
    expect(text.sum('trellis_requests_total', { ...gw('ok'), method: 'GET', status_class: '2xx' })).toBe(3);
    expect(text.sum('trellis_requests_total', { ...gw('ok'), method: 'POST', status_class: '2xx' })).toBe(1);
    expect(text.sum('trellis_requests_total', { ...gw('missing'), method: 'GET', status_class: '4xx' })).toBe(
      1,
    );
    expect(text.sum('trellis_request_duration_seconds_count', gw('ok'))).toBe(4);
    expect(text.sum('trellis_request_duration_seconds_bucket', { ...gw('ok'), le: '+Inf' })).toBe(4);
    const sum = text.sum('trellis_request_duration_seconds_sum', gw('ok'));
    // Each recorded duration lies inside the client's own view of its exchange.
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(elapsedSeconds);
  });

  it('tells the outbound and inbound directions apart (no route on sidecar traffic)', async () => {
    const viaOutbound = await request(outbound.port, 'GET', '/items', { headers: { host: 'ok' } });
    expect(viaOutbound.status).toBe(200);
    expect((await request(inbound.port, 'GET', '/items')).status).toBe(200);
    expect((await request(inbound.port, 'DELETE', '/items/1')).status).toBe(200);

    const text = await scrape();
    const outboundLabels = { service: 'ok', route: '', direction: 'outbound' };
    expect(
      text.sum('trellis_requests_total', { ...outboundLabels, method: 'GET', status_class: '2xx' }),
    ).toBe(1);
    const inboundLabels = { service: 'ok-app', route: '', direction: 'inbound' };
    expect(text.sum('trellis_requests_total', { ...inboundLabels, method: 'DELETE' })).toBe(1);
    expect(text.sum('trellis_request_duration_seconds_count', inboundLabels)).toBe(2);
    // The gateway's figures are its own.
    expect(text.sum('trellis_requests_total', { service: 'ok', direction: 'gateway' })).toBe(4);
  });

  it('counts retries and connect errors', async () => {
    for (let i = 0; i < 2; i++) {
      const response = await request(gateway.port, 'GET', '/retry/x');
      expect(response.status).toBe(502);
      expect(response.headers['x-trellis-error']).toBe('UPSTREAM_CONNECT_FAILED');
    }
    const text = await scrape();
    // Three attempts each: three connect errors, two retries.
    expect(text.sum('trellis_upstream_connect_errors_total', gw('retry'))).toBe(6);
    expect(text.sum('trellis_retries_total', gw('retry'))).toBe(4);
    expect(text.sum('trellis_retry_budget_exhausted_total', gw('retry'))).toBe(0);
    expect(text.sum('trellis_mesh_errors_total', { ...gw('retry'), code: 'UPSTREAM_CONNECT_FAILED' })).toBe(
      2,
    );
    expect(text.sum('trellis_requests_total', { ...gw('retry'), status_class: '5xx' })).toBe(2);
  });

  it('counts retries the budget refused', async () => {
    for (let i = 0; i < 2; i++) expect((await request(gateway.port, 'GET', '/budget/x')).status).toBe(502);
    const text = await scrape();
    expect(text.sum('trellis_retry_budget_exhausted_total', gw('budget'))).toBe(2);
    expect(text.sum('trellis_retries_total', gw('budget'))).toBe(0);
    expect(text.sum('trellis_upstream_connect_errors_total', gw('budget'))).toBe(2);
  });

  it('shows an open circuit breaker per endpoint, and the requests it refused', async () => {
    const send = async () => {
      const response = await request(gateway.port, 'GET', '/breaker/x');
      return `${response.status} ${response.headers['x-trellis-error'] ?? ''}`.trim();
    };
    // The cluster (and its endpoints' series) appears with the first request.
    expect(await send()).toBe('500');
    const endpoint = (await scrape()).find('trellis_circuit_breaker_state', { service: 'breaker' });
    expect(endpoint).toHaveLength(1);
    expect(endpoint[0].value).toBe(0);
    expect([await send(), await send()]).toEqual(['500', '503 CIRCUIT_OPEN']);
    const text = await scrape();
    expect(text.find('trellis_circuit_breaker_state', endpoint[0].labels)[0].value).toBe(1);
    expect(text.sum('trellis_mesh_errors_total', { ...gw('breaker'), code: 'CIRCUIT_OPEN' })).toBe(1);
    expect(text.sum('trellis_requests_total', { ...gw('breaker'), status_class: '5xx' })).toBe(3);
    // An open breaker takes its endpoint out of balancing.
    expect(text.sum('trellis_endpoints_ejected', { service: 'breaker' })).toBe(1);
  });

  it('counts outlier ejections and shows the ejected endpoint', async () => {
    expect((await scrape()).sum('trellis_outlier_ejections_total', { service: 'outlier' })).toBe(0);
    let ejections = 0;
    for (let i = 0; i < 12 && ejections === 0; i++) {
      await request(gateway.port, 'GET', '/outlier/x');
      ejections = (await scrape()).sum('trellis_outlier_ejections_total', { service: 'outlier' });
    }
    expect(ejections).toBe(1);
    const text = await scrape();
    expect(text.sum('trellis_endpoints_ejected', { service: 'outlier' })).toBe(1);
    // With the failing endpoint out, everything now reaches the good one.
    for (let i = 0; i < 4; i++) expect((await request(gateway.port, 'GET', '/outlier/x')).status).toBe(200);
  });

  it('counts overflowed requests', async () => {
    const first = request(gateway.port, 'GET', '/overflow/slow');
    // Wait until the first holds the only slot.
    const until = Date.now() + 5_000;
    while (proxy.clusters.get('overflow')?.limiter.inFlight !== 1 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const second = await request(gateway.port, 'GET', '/overflow/fast');
    expect(second.status).toBe(503);
    expect(second.headers['x-trellis-error']).toBe('OVERFLOW');
    expect((await first).status).toBe(200);
    const text = await scrape();
    expect(text.sum('trellis_requests_overflowed_total', gw('overflow'))).toBe(1);
    expect(text.sum('trellis_mesh_errors_total', { ...gw('overflow'), code: 'OVERFLOW' })).toBe(1);
    expect(text.sum('trellis_requests_total', { ...gw('overflow'), status_class: '2xx' })).toBe(1);
  });

  it('counts a request whose client left before the response as status class none', async () => {
    // The client hangs up 50 ms into a 300 ms exchange.
    await rawExchange(gateway.port, 'GET /slow/x HTTP/1.1\r\nhost: test\r\n\r\n', 50);
    let text = await scrape();
    const until = Date.now() + 5_000;
    while (text.sum('trellis_requests_total', gw('slow')) === 0 && Date.now() < until) text = await scrape();
    expect(text.sum('trellis_requests_total', { ...gw('slow'), method: 'GET', status_class: 'none' })).toBe(
      1,
    );
    expect(text.sum('trellis_requests_total', gw('slow'))).toBe(1);
  });

  it('counts requests that match no route under the unknown service', async () => {
    const response = await request(gateway.port, 'GET', '/nowhere');
    expect(response.status).toBe(404);
    const text = await scrape();
    const labels = { service: 'unknown', route: '', direction: 'gateway' };
    expect(text.sum('trellis_requests_total', { ...labels, method: 'GET', status_class: '4xx' })).toBe(1);
    expect(text.sum('trellis_mesh_errors_total', { ...labels, code: 'NO_ROUTE' })).toBe(1);
  });

  it('shows the endpoints of each service by health', async () => {
    const text = await scrape();
    expect(text.sum('trellis_endpoints', { service: 'ok', health: 'healthy' })).toBe(1);
    expect(text.sum('trellis_endpoints', { service: 'ok', health: 'degraded' })).toBe(1);
    expect(text.sum('trellis_endpoints', { service: 'ok', health: 'unhealthy' })).toBe(0);
    expect(text.sum('trellis_endpoints', { service: 'outlier' })).toBe(2);
  });

  it('keeps every histogram count equal to the requests counted for the same series', async () => {
    const text = await scrape();
    const counts = text.find('trellis_request_duration_seconds_count');
    expect(counts.length).toBeGreaterThan(5);
    for (const series of counts) {
      const { service, route: routeName, direction } = series.labels;
      expect(text.sum('trellis_requests_total', { service, route: routeName, direction })).toBe(series.value);
    }
  });

  it('answers only GET/HEAD on the metrics path, with JSON errors elsewhere', async () => {
    const head = await fetch(metricsServer.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const post = await fetch(metricsServer.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
    const other = await fetch(metricsServer.url.replace('/metrics', '/other'));
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    // The proxy ports never answer for metrics: /metrics on the gateway is just an unrouted request.
    expect((await request(gateway.port, 'GET', '/metrics')).headers['x-trellis-error']).toBe('NO_ROUTE');
  });

  /** Writes `bytes` on one connection and reads until the server closes it or `until` holds. */
  function converse(bytes: string, until: (text: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(metricsServer.port, '127.0.0.1');
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (until(text)) socket.destroy();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.end(bytes);
    });
  }

  it('keeps a scraper connection alive and answers pipelined scrapes in order', async () => {
    const scrape = 'GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n';
    const text = await converse(
      `${scrape}HEAD /metrics HTTP/1.1\r\nhost: x\r\n\r\n${scrape}`,
      (sofar) => sofar.split('HTTP/1.1 200 OK').length === 4 && sofar.endsWith('\n'),
    );
    const heads = text.match(/HTTP\/1\.1 \d+ [^\r]*/g);
    expect(heads).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    expect(text.split('# TYPE trellis_requests_total counter')).toHaveLength(3);
  });

  it('refuses a malformed request, and one with a body, with 400 and closes', async () => {
    const smuggled = await converse(
      'GET /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n',
      () => false,
    );
    expect(smuggled).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(smuggled).toContain('CL_TE_CONFLICT');
    const withBody = await converse(
      'GET /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi',
      () => false,
    );
    expect(withBody).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(withBody).toContain('"code":"BAD_REQUEST"');
  });
});

describe('proxy without metrics', () => {
  it('forwards as usual and has nothing to serve', async () => {
    const upstream = await startUpstream(echo('plain'));
    const { proxy } = createTestProxy(
      { instances: [instance('plain', upstream.port)], routes: [route('plain')] },
      { metrics: false },
    );
    try {
      const gateway = await proxy.gateway({ port: 0 });
      expect((await request(gateway.port, 'GET', '/plain/x')).status).toBe(200);
      expect(proxy.metrics).toBeNull();
      await expect(proxy.serveMetrics({ port: 0 })).rejects.toThrow(/metrics: false/);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('the metrics port', () => {
  it('counts the bytes of a UTF-8 exposition in content-length', async () => {
    const text = 'trellis_info{service="café-ünïcode"} 1\n';
    const server = await serveMetrics({
      port: 0,
      source: { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: async () => text },
    });
    try {
      const reply = await fetch(server.url);
      expect(reply.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
      expect(Number(reply.headers.get('content-length'))).toBeGreaterThan(text.length);
      expect(await reply.text()).toBe(text);
      const head = await fetch(server.url, { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    } finally {
      await server.close();
    }
  });
});
