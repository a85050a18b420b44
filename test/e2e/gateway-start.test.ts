/**
 * The gateway inside a real `trellis start` child process: routes from trellis.yaml and from the API,
 * invocation through the same process, draining on SIGTERM, and --no-gateway.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually } from '../helpers/control.ts';
import { type Child, startTrellis, stopChild, type TrellisStart } from '../helpers/processes.ts';
import { echo, startUpstream, type Upstream } from '../integration/proxy-helpers.ts';

const children: Child[] = [];
const dirs: string[] = [];
const upstreams: Upstream[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-gateway-'));
  dirs.push(dir);
  return dir;
}

async function start(args: string[], cwd: string): Promise<TrellisStart> {
  const child = await startTrellis(['--port', '0', '--log-level', 'warn', ...args], { cwd });
  children.push(child);
  return child;
}

afterAll(async () => {
  for (const child of children) await stopChild(child, 'SIGKILL');
  for (const upstream of upstreams) await upstream.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('trellis start: the gateway', { timeout: 120_000 }, () => {
  let trellis: TrellisStart;
  let api: Upstream;
  let web: Upstream;
  let gateway: string;

  beforeAll(async () => {
    api = await startUpstream((req, res) => {
      const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => echo('api')(req, res), delay);
    });
    web = await startUpstream(echo('web'));
    upstreams.push(api, web);
    const cwd = await tempDir();
    const config = join(cwd, 'trellis.yaml');
    await writeFile(
      config,
      [
        'control:',
        `  dataDir: ${join(cwd, 'data')}`,
        'gateway:',
        '  drainTimeout: 10s',
        'services:',
        '  - name: api',
        '    instances:',
        `      - address: 127.0.0.1`,
        `        port: ${api.port}`,
        'routes:',
        '  - name: api',
        '    service: api',
        '    match:',
        '      path:',
        '        prefix: /api',
        '    stripPrefix: true',
        '',
      ].join('\n'),
    );
    trellis = await start(['--config', config, '--gateway-port', '0'], cwd);
    gateway = trellis.gatewayUrl!;
  });

  it('prints the gateway address and serves the routes of trellis.yaml there', async () => {
    expect(gateway).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gateway).not.toBe('http://127.0.0.1:7480');
    const res = await fetch(`${gateway}/api/items?page=2`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream')).toBe('api');
    expect(((await res.json()) as { url: string }).url).toBe('/items?page=2');

    const none = await fetch(`${gateway}/elsewhere`);
    expect(none.status).toBe(404);
    expect(none.headers.get('x-trellis-error')).toBe('NO_ROUTE');
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('NO_ROUTE');
  });

  it('serves a route added through the API, and stops when it is deleted, without a restart', async () => {
    const control = trellis.controlUrl;
    const registered = await call(control, 'POST', '/api/v1/instances', {
      service: 'web',
      address: '127.0.0.1',
      port: web.port,
    });
    expect(registered.status).toBe(201);
    const created = await call(control, 'PUT', '/api/v1/routes/web', {
      service: 'web',
      match: { path: { prefix: '/web' }, methods: ['GET'] },
      rewriteHost: 'web.internal',
    });
    expect(created.status).toBe(201);

    const seen = await eventually(async () => {
      const res = await fetch(`${gateway}/web/page`);
      return res.status === 200
        ? ((await res.json()) as { name: string; url: string; headers: Record<string, string> })
        : undefined;
    });
    expect(seen).toMatchObject({ name: 'web', url: '/web/page' });
    expect(seen.headers.host).toBe('web.internal');
    expect((await fetch(`${gateway}/web/page`, { method: 'POST' })).status).toBe(404);

    expect((await call(control, 'DELETE', '/api/v1/routes/web')).status).toBe(200);
    await eventually(async () => (await fetch(`${gateway}/web/page`)).status === 404);
  });

  it('invokes services through the control plane of the same process', async () => {
    const res = await call(trellis.controlUrl, 'POST', '/api/v1/mesh/v2/call', {
      service_name: 'api',
      path: '/direct',
    });
    expect(res.status).toBe(200);
    expect(res.body.status_code).toBe(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ name: 'api', url: '/direct' });

    const invoked = await fetch(`${trellis.controlUrl}/v1.0/invoke/api/method/dapr?x=1`);
    expect(invoked.status).toBe(200);
    expect(((await invoked.json()) as { url: string }).url).toBe('/dapr?x=1');

    const clusters = await call(trellis.controlUrl, 'GET', '/api/v1/proxy/clusters/api');
    expect(clusters.status).toBe(200);
    expect(clusters.body.endpoints[0]).toMatchObject({ port: api.port, health: 'healthy' });
    expect(clusters.body.endpoints[0].requests).toBeGreaterThanOrEqual(3);
  });

  it('lets a request in flight finish on SIGTERM, then exits 0', async () => {
    const slow = fetch(`${gateway}/api/slow?delay=700`);
    await eventually(async () => {
      const view = await call(trellis.controlUrl, 'GET', '/api/v1/proxy/clusters/api');
      return view.body.endpoints[0].inFlight === 1;
    });
    process.kill(trellis.pid, 'SIGTERM');
    const res = await slow;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { url: string }).url).toBe('/slow?delay=700');
    await trellis.exited;
    expect(trellis.process.exitCode).toBe(0);
  });
});

describe('trellis start --no-gateway', { timeout: 120_000 }, () => {
  it('runs without a gateway; invocation still works', async () => {
    const upstream = await startUpstream(echo('solo'));
    upstreams.push(upstream);
    const cwd = await tempDir();
    const trellis = await start(['--no-gateway', '--data-dir', join(cwd, 'data')], cwd);
    expect(trellis.gatewayUrl).toBeUndefined();
    expect(trellis.output()).toMatch(/gateway: +off/);
    await call(trellis.controlUrl, 'POST', '/api/v1/instances', {
      service: 'solo',
      address: '127.0.0.1',
      port: upstream.port,
    });
    const res = await call(trellis.controlUrl, 'POST', '/api/v1/mesh/v2/call', { service_name: 'solo' });
    expect(res.body.status_code).toBe(200);
    await stopChild(trellis, 'SIGTERM');
    expect(trellis.process.exitCode).toBe(0);
  });
});
