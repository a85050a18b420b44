/**
 * The control plane's metrics: GET /metrics and the earlier mesh's GET /api/v1/mesh/v2/metrics on a
 * real node, with its registry, watch streams, health checks and in-process gateway proxy.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  type EventStream,
  eventually,
  openEventStream,
  startTestControl,
  type TestControl,
} from '../helpers/control.ts';
import { type Exposition, parseExposition } from '../helpers/exposition.ts';
import { echo, request, startUpstream, type Upstream } from './proxy-helpers.ts';

async function scrape(base: string, path = '/metrics', headers: Record<string, string> = {}) {
  const response = await fetch(base + path, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

async function metrics(base: string, path = '/metrics'): Promise<Exposition> {
  const { status, text } = await scrape(base, path);
  expect(status).toBe(200);
  return parseExposition(text);
}

describe('control plane metrics', () => {
  let control: TestControl;
  let base: string;
  let upstream: Upstream;
  let tcpTarget: Server;
  const streams: EventStream[] = [];

  beforeAll(async () => {
    control = await startTestControl();
    base = control.url;
    upstream = await startUpstream(echo('orders'));
    tcpTarget = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => tcpTarget.listen(0, '127.0.0.1', () => resolve()));
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await control?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => (tcpTarget ? tcpTarget.close(() => resolve()) : resolve()));
  });

  it('serves Prometheus text with the store revision and the process metrics', async () => {
    const { status, type, text } = await scrape(base);
    expect(status).toBe(200);
    expect(type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const exposition = parseExposition(text);
    expect(exposition.sum('trellis_store_revision')).toBe(control.registry.revision());
    expect(exposition.find('process_cpu_user_seconds_total')).toHaveLength(1);
    expect(exposition.types.get('trellis_health_checks_total')).toBe('counter');
  });

  it('counts registered instances by service and health', async () => {
    for (const [id, port] of [
      ['inv-a', 7001],
      ['inv-b', 7002],
      ['inv-c', 7003],
    ] as const) {
      expect(
        (
          await call(base, 'POST', '/api/v1/instances', {
            id,
            service: 'inventory',
            address: '127.0.0.1',
            port,
          })
        ).status,
      ).toBe(201);
    }
    await control.registry.setHealth('inv-a', 'healthy');
    await control.registry.setHealth('inv-b', 'unhealthy');
    const exposition = await metrics(base);
    const expected = control.registry.listServices().find((s) => s.name === 'inventory')!.instances;
    for (const health of ['healthy', 'degraded', 'unhealthy', 'unknown'] as const) {
      expect(exposition.sum('trellis_registered_instances', { service: 'inventory', health })).toBe(
        expected[health],
      );
    }
    expect(exposition.sum('trellis_registered_instances', { service: 'inventory' })).toBe(3);
    // An instance without a check counts as healthy.
    expect(exposition.sum('trellis_registered_instances', { service: 'inventory', health: 'healthy' })).toBe(
      2,
    );
    expect(
      exposition.sum('trellis_registered_instances', { service: 'inventory', health: 'unhealthy' }),
    ).toBe(1);
    expect(exposition.sum('trellis_store_revision')).toBe(control.registry.revision());
  });

  it('counts open watch streams', async () => {
    const before = (await metrics(base)).sum('trellis_watch_subscribers');
    const stream = await openEventStream(`${base}/api/v1/watch`);
    streams.push(stream);
    await stream.next((event) => event.event === 'snapshot');
    expect((await metrics(base)).sum('trellis_watch_subscribers')).toBe(before + 1);
    stream.close();
    await eventually(async () => (await metrics(base)).sum('trellis_watch_subscribers') === before);
  });

  it('counts health checks by type and result', async () => {
    const port = (tcpTarget.address() as { port: number }).port;
    await call(base, 'POST', '/api/v1/instances', {
      id: 'checked',
      service: 'checked',
      address: '127.0.0.1',
      port,
      check: { tcp: true, interval: '100ms' },
    });
    const passes = await eventually(async () => {
      const n = (await metrics(base)).sum('trellis_health_checks_total', { check: 'tcp', result: 'pass' });
      return n >= 2 ? n : undefined;
    }, 10_000);
    expect(passes).toBeGreaterThanOrEqual(2);
    await call(base, 'DELETE', '/api/v1/instances/checked');
  });

  it('includes the in-process gateway proxy in /metrics and /api/v1/mesh/v2/metrics', async () => {
    await call(base, 'POST', '/api/v1/instances', {
      id: 'orders-1',
      service: 'orders',
      address: '127.0.0.1',
      port: upstream.port,
    });
    await control.registry.setHealth('orders-1', 'healthy');
    await call(base, 'POST', '/api/v1/routes', {
      name: 'orders',
      service: 'orders',
      match: { path: { prefix: '/orders' } },
      stripPrefix: true,
    });
    const gatewayPort = control.gateway!.port;
    await eventually(async () => (await request(gatewayPort, 'GET', '/orders/1')).status === 200);
    const labels = { service: 'orders', route: 'orders', direction: 'gateway', status_class: '2xx' };
    const served = (await metrics(base)).sum('trellis_requests_total', labels);
    expect(served).toBeGreaterThanOrEqual(1);
    expect((await request(gatewayPort, 'GET', '/orders/2')).status).toBe(200);

    for (const path of ['/metrics', '/api/v1/mesh/v2/metrics']) {
      const exposition = await metrics(base, path);
      expect(exposition.sum('trellis_requests_total', labels)).toBe(served + 1);
      expect(exposition.sum('trellis_endpoints', { service: 'orders', health: 'healthy' })).toBe(1);
      expect(exposition.sum('trellis_store_revision')).toBe(control.registry.revision());
      // One set of process metrics: the proxy's registry does not collect them again.
      expect(exposition.find('process_resident_memory_bytes')).toHaveLength(1);
    }
  });
});

describe('control plane metrics behind an admin token', () => {
  let control: TestControl;

  beforeAll(async () => {
    control = await startTestControl({ control: { adminToken: 'metrics-test-token' } });
  });

  afterAll(async () => {
    await control?.close();
  });

  it('leaves /metrics open for scrapers and guards the /api path like the rest of the API', async () => {
    expect((await scrape(control.url)).status).toBe(200);
    const denied = await scrape(control.url, '/api/v1/mesh/v2/metrics');
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.text).error.code).toBe('UNAUTHORIZED');
    const allowed = await scrape(control.url, '/api/v1/mesh/v2/metrics', {
      authorization: 'Bearer metrics-test-token',
    });
    expect(allowed.status).toBe(200);
    expect(parseExposition(allowed.text).find('trellis_store_revision')).toHaveLength(1);
  });
});
