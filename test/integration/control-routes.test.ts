/** Gateway routes over HTTP, from trellis.yaml at start, and on the watch stream. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicy, trellisConfig, validate } from '../../src/config/index.ts';
import { type ControlNode, startControlNode } from '../../src/control/index.ts';
import { call, openEventStream, startTestControl, type TestControl } from '../helpers/control.ts';

describe('control plane: gateway routes', () => {
  let control: TestControl;
  let base: string;

  beforeAll(async () => {
    control = await startTestControl();
    base = control.url;
  });

  afterAll(async () => {
    await control?.close();
  });

  const api = {
    name: 'api',
    service: 'orders',
    match: { path: { prefix: '/api' }, methods: ['get'] },
    stripPrefix: true,
  };

  it('creates, reads, lists, replaces and deletes a route', async () => {
    expect((await call(base, 'GET', '/api/v1/routes')).body).toEqual({ routes: [] });

    const created = await call(base, 'POST', '/api/v1/routes', api);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      name: 'api',
      service: 'orders',
      priority: 0,
      match: { path: { prefix: '/api' }, methods: ['GET'] },
      stripPrefix: true,
      createdAt: expect.any(Number),
    });
    expect((await call(base, 'GET', '/api/v1/routes/api')).body).toEqual(created.body);

    const conflict = await call(base, 'POST', '/api/v1/routes', { ...api, service: 'other' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('CONFLICT');
    expect(conflict.body.error.message).toBe('a route named "api" already exists');

    // PUT replaces (the name may come from the path only) and keeps createdAt.
    const replaced = await call(base, 'PUT', '/api/v1/routes/api', {
      service: 'billing',
      priority: 5,
      match: { hosts: ['Billing.example.com'] },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({
      name: 'api',
      service: 'billing',
      priority: 5,
      match: { hosts: ['billing.example.com'] },
      stripPrefix: false,
      createdAt: created.body.createdAt,
    });
    // PUT of a new name creates it.
    const putNew = await call(base, 'PUT', '/api/v1/routes/web', { name: 'web', service: 'web' });
    expect(putNew.status).toBe(201);

    const listed = await call(base, 'GET', '/api/v1/routes');
    expect(listed.body.routes.map((route: { name: string }) => route.name)).toEqual(['api', 'web']);

    expect((await call(base, 'DELETE', '/api/v1/routes/api')).body).toEqual({ deleted: true });
    const gone = await call(base, 'GET', '/api/v1/routes/api');
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'no route named "api"' });
    expect((await call(base, 'DELETE', '/api/v1/routes/api')).status).toBe(404);
    await call(base, 'DELETE', '/api/v1/routes/web');
  });

  it('refuses bad routes with the path of each bad field, and changes nothing', async () => {
    await call(base, 'POST', '/api/v1/routes', api);
    const revision = (await call(base, 'GET', '/api/v1/snapshot')).body.revision;

    const bad = await call(base, 'POST', '/api/v1/routes', {
      name: 'bad',
      service: 'orders',
      match: {
        path: { prefix: '/a', regex: '^/b' },
        hosts: ['host:80'],
        headers: [{ name: 'x-a', regex: '(' }],
      },
      rewriteHost: 'two words',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      'match.headers.0.regex',
      'match.hosts.0',
      'match.path',
      'rewriteHost',
    ]);

    const long = await call(base, 'POST', '/api/v1/routes', {
      name: 'long',
      service: 'orders',
      match: { path: { regex: 'x'.repeat(1001) } },
    });
    expect(long.body.error.message).toBe(
      'invalid route: match.path.regex: a pattern is at most 1000 characters',
    );

    const strip = await call(base, 'PUT', '/api/v1/routes/api', {
      ...api,
      match: { path: { exact: '/api' } },
    });
    expect(strip.body.error.details[0].path).toBe('stripPrefix');

    const subMs = await call(base, 'PUT', '/api/v1/routes/api', {
      ...api,
      timeout: { requestMs: '500us' },
      retry: { perTryTimeoutMs: true },
    });
    expect(subMs.status).toBe(400);
    expect(subMs.body.error.details).toEqual([
      { path: 'timeout.requestMs', message: 'a timeout is 0 (none) or at least 1ms, got "500us"' },
      {
        path: 'retry.perTryTimeoutMs',
        message: 'expected a duration such as 500ms or 10s, or a number of milliseconds',
      },
    ]);

    const renamed = await call(base, 'PUT', '/api/v1/routes/api', { ...api, name: 'other' });
    expect(renamed.status).toBe(400);
    expect(renamed.body.error.message).toBe('invalid route: name: must be "api" (the name in the path)');

    expect((await call(base, 'GET', '/api/v1/routes/api')).body.match.path).toEqual({ prefix: '/api' });
    expect((await call(base, 'GET', '/api/v1/routes/bad')).status).toBe(404);
    expect((await call(base, 'GET', '/api/v1/snapshot')).body.revision).toBe(revision);
    await call(base, 'DELETE', '/api/v1/routes/api');
  });

  it('the watch stream carries route changes', async () => {
    const stream = await openEventStream(`${base}/api/v1/watch`);
    try {
      await stream.next((event) => event.event === 'snapshot');
      await call(base, 'POST', '/api/v1/routes', { name: 'streamed', service: 'orders' });
      const put = JSON.parse(
        (await stream.next((event) => event.event === 'change' && event.data.includes('route.put'))).data,
      );
      expect(put).toMatchObject({ type: 'route.put', route: { name: 'streamed', service: 'orders' } });
      await call(base, 'DELETE', '/api/v1/routes/streamed');
      const deleted = JSON.parse(
        (await stream.next((event) => event.event === 'change' && event.data.includes('route.delete'))).data,
      );
      expect(deleted).toMatchObject({ type: 'route.delete', name: 'streamed' });
    } finally {
      stream.close();
    }
  });
});

describe('control node: policies and routes from trellis.yaml', () => {
  let node: ControlNode | undefined;
  let dataDir: string;

  afterAll(async () => {
    await node?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('applies them at start, over what the API had set', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trellis-routes-config-'));
    const config = validate(trellisConfig, {
      control: { host: '127.0.0.1', port: 0, dataDir },
      gateway: { port: 0 },
      services: [
        {
          name: 'web',
          instances: [{ address: '127.0.0.1', port: 8081 }],
          policy: { loadBalancer: { kind: 'round-robin' }, timeout: { requestMs: '3s' } },
        },
        { name: 'api' },
      ],
      routes: [
        { name: 'web', service: 'web', match: { path: { prefix: '/web' } }, stripPrefix: true },
        { name: 'api', service: 'api', priority: 10, match: { hosts: ['api.example.com'] } },
      ],
    });
    const logger = pino({ level: 'silent' });
    node = await startControlNode(config, { logger });
    const policy = (await call(node.url, 'GET', '/api/v1/services/web/policy')).body;
    expect(policy).toEqual({
      ...defaultPolicy('web'),
      loadBalancer: { kind: 'round-robin' },
      timeout: { requestMs: 3000, idleMs: 60_000 },
    });
    // A service without a policy in the file stays on the defaults.
    expect((await call(node.url, 'GET', '/api/v1/policies')).body.policies).toEqual([policy]);
    const routes = (await call(node.url, 'GET', '/api/v1/routes')).body.routes;
    expect(routes.map((route: { name: string }) => route.name)).toEqual(['api', 'web']);

    // Changed through the API, then the node restarts: the file wins again, as for static instances.
    await call(node.url, 'PATCH', '/api/v1/services/web/policy', { loadBalancer: { kind: 'random' } });
    await call(node.url, 'PUT', '/api/v1/routes/web', { service: 'elsewhere' });
    await node.close();
    node = await startControlNode(config, { logger });
    expect((await call(node.url, 'GET', '/api/v1/services/web/policy')).body.loadBalancer).toEqual({
      kind: 'round-robin',
    });
    expect((await call(node.url, 'GET', '/api/v1/routes/web')).body).toMatchObject({
      service: 'web',
      createdAt: routes.find((route: { name: string }) => route.name === 'web').createdAt,
    });
  });
});
