import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlSettings, trellisConfig, validate } from '../../src/config/index.ts';
import { createControlServer, startControlNode } from '../../src/control/index.ts';
import { isMeshError } from '../../src/core/index.ts';
import type { Registry } from '../../src/registry/index.ts';
import { call, eventually, startTestControl, type TestControl } from '../helpers/control.ts';

/** Sends a raw request with node:http (fetch always adds a content-type to string bodies). */
function rawRequest(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: string | Buffer; chunks?: Buffer[] },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method, headers: options.headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    if (options.chunks) {
      // Streams chunk by chunk, so the server has to decide on the size while bytes arrive.
      let i = 0;
      const writeNext = () => {
        if (i >= options.chunks!.length) return req.end();
        const ok = req.write(options.chunks![i++]!);
        if (ok) setImmediate(writeNext);
        else req.once('drain', writeNext);
      };
      req.on('error', () => {});
      writeNext();
    } else {
      req.end(options.body);
    }
  });
}

describe('control plane: native API', () => {
  let control: TestControl;
  let base: string;

  beforeAll(async () => {
    control = await startTestControl({ control: { maxBodyBytes: 64 * 1024 } });
    base = control.url;
  });

  afterAll(async () => {
    await control?.close();
  });

  it('answers the probes', async () => {
    const healthz = await call(base, 'GET', '/healthz');
    expect(healthz.status).toBe(200);
    expect(healthz.body).toEqual({ status: 'ok' });
    const readyz = await call(base, 'GET', '/readyz');
    expect(readyz.status).toBe(200);
    expect(readyz.body.status).toBe('ready');
  });

  it('creates, lists, reads and deletes services', async () => {
    const created = await call(base, 'POST', '/api/v1/services', { name: 'billing', tags: ['team-a'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'billing', tags: ['team-a'], metadata: {} });
    expect(typeof created.body.createdAt).toBe('number');

    const list = await call(base, 'GET', '/api/v1/services');
    expect(list.status).toBe(200);
    const billing = list.body.services.find((service: { name: string }) => service.name === 'billing');
    expect(billing).toMatchObject({
      name: 'billing',
      instances: { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 },
    });

    const one = await call(base, 'GET', '/api/v1/services/billing');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ service: { name: 'billing' }, instances: [] });

    const instances = await call(base, 'GET', '/api/v1/services/billing/instances');
    expect(instances.status).toBe(200);
    expect(instances.body).toEqual({ instances: [] });

    const deleted = await call(base, 'DELETE', '/api/v1/services/billing');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true });

    const gone = await call(base, 'GET', '/api/v1/services/billing');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('SERVICE_NOT_FOUND');
    expect((await call(base, 'DELETE', '/api/v1/services/billing')).status).toBe(404);
    expect((await call(base, 'GET', '/api/v1/services/billing/instances')).body.error.code).toBe(
      'SERVICE_NOT_FOUND',
    );
  });

  it('registers, filters, reads, heartbeats and deregisters instances', async () => {
    const a = await call(base, 'POST', '/api/v1/instances', {
      id: 'orders-1',
      service: 'orders',
      address: '127.0.0.1',
      port: 9001,
      tags: ['blue'],
      check: { ttl: '30s' },
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      id: 'orders-1',
      service: 'orders',
      port: 9001,
      tags: ['blue'],
      weight: 100,
    });
    expect(a.body.check).toMatchObject({ type: 'ttl', ttlMs: 30_000 });
    const b = await call(base, 'POST', '/api/v1/instances', {
      service: 'orders',
      address: '127.0.0.1',
      port: 9002,
      tags: ['green'],
    });
    expect(b.status).toBe(201);
    expect(typeof b.body.id).toBe('string');
    await call(base, 'POST', '/api/v1/instances', {
      id: 'users-1',
      service: 'users',
      address: '127.0.0.1',
      port: 9100,
    });

    const all = await call(base, 'GET', '/api/v1/instances');
    expect(all.status).toBe(200);
    expect(all.body.instances.map((i: { id: string }) => i.id)).toEqual(
      expect.arrayContaining(['orders-1', b.body.id, 'users-1']),
    );
    expect(typeof all.body.revision).toBe('number');

    const orders = await call(base, 'GET', '/api/v1/instances?service=orders');
    expect(orders.body.instances).toHaveLength(2);
    const blue = await call(base, 'GET', '/api/v1/instances?tag=blue');
    expect(blue.body.instances.map((i: { id: string }) => i.id)).toEqual(['orders-1']);
    const unknownOnly = await call(base, 'GET', '/api/v1/instances?service=orders&health=unknown,unhealthy');
    const healthyOnly = await call(base, 'GET', '/api/v1/instances?service=orders&health=healthy');
    expect(unknownOnly.body.instances.length + healthyOnly.body.instances.length).toBe(2);
    const badHealth = await call(base, 'GET', '/api/v1/instances?health=sleepy');
    expect(badHealth.status).toBe(400);
    expect(badHealth.body.error.details[0].path).toBe('health');

    const byService = await call(base, 'GET', '/api/v1/services/orders');
    expect(byService.body.service.name).toBe('orders');
    expect(byService.body.instances).toHaveLength(2);
    const serviceInstances = await call(
      base,
      'GET',
      '/api/v1/services/orders/instances?health=healthy,degraded,unknown',
    );
    expect(serviceInstances.status).toBe(200);

    const one = await call(base, 'GET', '/api/v1/instances/orders-1');
    expect(one.status).toBe(200);
    expect(one.body.id).toBe('orders-1');

    const beatPut = await call(base, 'PUT', '/api/v1/instances/orders-1/heartbeat');
    expect(beatPut.status).toBe(200);
    const beatPost = await call(base, 'POST', '/api/v1/instances/orders-1/heartbeat');
    expect(beatPost.status).toBe(200);
    const beatUnknown = await call(base, 'PUT', '/api/v1/instances/nope/heartbeat');
    expect(beatUnknown.status).toBe(404);
    expect(beatUnknown.body.error.code).toBe('INSTANCE_NOT_FOUND');

    const deleted = await call(base, 'DELETE', '/api/v1/instances/orders-1');
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true });
    const gone = await call(base, 'GET', '/api/v1/instances/orders-1');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('INSTANCE_NOT_FOUND');
    expect((await call(base, 'DELETE', '/api/v1/instances/orders-1')).status).toBe(404);
  });

  it('reports mesh health and serves a snapshot', async () => {
    await call(base, 'POST', '/api/v1/instances', {
      id: 'health-1',
      service: 'hs',
      address: '127.0.0.1',
      port: 9200,
    });
    const health = await call(base, 'GET', '/api/v1/health');
    expect(health.status).toBe(200);
    expect(['healthy', 'degraded', 'unhealthy']).toContain(health.body.status);
    expect(health.body.store).toEqual({ kind: 'memory', connected: true });
    expect(health.body.instances.total).toBeGreaterThanOrEqual(1);
    expect(health.body.services.hs).toMatchObject({ total: 1 });
    expect(typeof health.body.revision).toBe('number');
    expect(typeof health.body.leader).toBe('boolean');
    // A single node wins the health-check leadership.
    await eventually(async () => (await call(base, 'GET', '/api/v1/health')).body.leader === true, 10_000);

    const snapshot = await call(base, 'GET', '/api/v1/snapshot');
    expect(snapshot.status).toBe(200);
    expect(typeof snapshot.body.revision).toBe('number');
    expect(snapshot.body.services.some((s: { name: string }) => s.name === 'hs')).toBe(true);
    expect(snapshot.body.instances.some((i: { id: string }) => i.id === 'health-1')).toBe(true);
  });

  it('rejects invalid bodies naming the bad field and changes nothing', async () => {
    const before = await call(base, 'GET', '/api/v1/instances');
    const servicesBefore = await call(base, 'GET', '/api/v1/services');

    const badPort = await call(base, 'POST', '/api/v1/instances', {
      service: 'bad',
      address: '127.0.0.1',
      port: 70_000,
    });
    expect(badPort.status).toBe(400);
    expect(badPort.body.error.code).toBe('BAD_REQUEST');
    expect(badPort.body.error.details[0].path).toBe('port');

    const badName = await call(base, 'POST', '/api/v1/instances', {
      service: '-x-',
      address: '127.0.0.1',
      port: 1,
    });
    expect(badName.status).toBe(400);
    expect(badName.body.error.details[0].path).toBe('service');

    const badCheck = await call(base, 'POST', '/api/v1/instances', {
      service: 'bad',
      address: '127.0.0.1',
      port: 1,
      check: { http: '/health', interval: 'soon' },
    });
    expect(badCheck.status).toBe(400);
    expect(badCheck.body.error.details[0].path).toBe('check.interval');

    const extra = await call(base, 'POST', '/api/v1/services', { name: 'ok', colour: 'red' });
    expect(extra.status).toBe(400);

    const badService = await call(base, 'POST', '/api/v1/services', { name: '' });
    expect(badService.status).toBe(400);
    expect(badService.body.error.details[0].path).toBe('name');

    const empty = await call(base, 'POST', '/api/v1/instances');
    expect(empty.status).toBe(400);

    const after = await call(base, 'GET', '/api/v1/instances');
    expect(after.body).toEqual(before.body);
    expect((await call(base, 'GET', '/api/v1/services')).body).toEqual(servicesBefore.body);
  });

  it('answers malformed JSON with 400 and non-JSON bodies with 415', async () => {
    const malformed = await call(base, 'POST', '/api/v1/instances', '{"service": "x",', {
      'content-type': 'application/json',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('BAD_REQUEST');

    const text = await call(base, 'POST', '/api/v1/services', 'name=x', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    // `curl -d` labels JSON as a form: accepted when it parses as JSON, refused when it is a real form.
    const curlStyle = await call(base, 'POST', '/api/v1/services', '{"name":"curl-style"}', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(curlStyle.status).toBe(201);
    const form = await call(base, 'POST', '/api/v1/services', 'name=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);

    // Old clients send no content-type at all: accepted.
    const noType = await rawRequest(`${base}/api/v1/services`, {
      method: 'POST',
      body: JSON.stringify({ name: 'untyped' }),
    });
    expect(noType.status).toBe(201);
    expect(JSON.parse(noType.body).name).toBe('untyped');
  });

  it('rejects bodies over the limit with 413, declared or streamed', async () => {
    const before = await call(base, 'GET', '/api/v1/services');
    const big = JSON.stringify({
      name: 'big',
      metadata: { pad: 'x'.repeat(1000) },
      tags: ['a'.repeat(70 * 1024)],
    });
    const declared = await call(base, 'POST', '/api/v1/services', big);
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('PAYLOAD_TOO_LARGE');

    // Chunked: no Content-Length, so the limit is enforced while the bytes stream in.
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const streamed = await rawRequest(`${base}/api/v1/services`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [
        Buffer.from('{"name":"big2","x":"'),
        ...Array.from({ length: 8 }, () => chunk),
        Buffer.from('"}'),
      ],
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await call(base, 'GET', '/api/v1/services')).body).toEqual(before.body);
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    const missing = await call(base, 'GET', '/api/v1/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/json/);
    expect(missing.body.error.code).toBe('NOT_FOUND');

    const wrong = await call(base, 'PATCH', '/api/v1/services');
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('GET, POST');

    const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('turns an unexpected error into a logged 500 INTERNAL JSON error', async () => {
    // The real registry, with one method broken.
    const broken = new Proxy(control.registry, {
      get(target, property, receiver) {
        if (property === 'listServices') {
          return () => {
            throw new TypeError('boom');
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Registry;
    const logged: unknown[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const server = createControlServer({
      registry: broken,
      store: control.store,
      settings: validate(controlSettings, { port: 0, dataDir: control.dataDir }),
      logger,
    });
    const { url } = await server.listen();
    try {
      const res = await call(url, 'GET', '/api/v1/services');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'boom', details: [] } });
      expect(logged).toHaveLength(1);
      expect((await call(url, 'GET', '/api/v1/instances')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('control plane: static configuration and readiness', () => {
  let control: TestControl;

  beforeAll(async () => {
    control = await startTestControl({
      services: [
        {
          name: 'static',
          tags: ['from-config'],
          check: { tcp: true, interval: '1s' },
          instances: [
            { id: 'static-1', address: '127.0.0.1', port: 9401 },
            { id: 'static-2', address: '127.0.0.1', port: 9402, check: { http: '/ready' } },
          ],
        },
      ],
    });
  });

  afterAll(async () => {
    await control?.close();
  });

  it('registers the services and instances of trellis.yaml, with the service check as default', async () => {
    const res = await call(control.url, 'GET', '/api/v1/services/static');
    expect(res.status).toBe(200);
    expect(res.body.service).toMatchObject({ name: 'static', tags: ['from-config'] });
    const byId = Object.fromEntries(res.body.instances.map((i: { id: string }) => [i.id, i]));
    expect(byId['static-1'].check).toMatchObject({
      type: 'tcp',
      address: '127.0.0.1',
      port: 9401,
      intervalMs: 1000,
    });
    expect(byId['static-2'].check).toMatchObject({ type: 'http', url: 'http://127.0.0.1:9402/ready' });
  });

  it('is not ready once the store stops answering', async () => {
    expect((await call(control.url, 'GET', '/readyz')).status).toBe(200);
    await control.store.close();
    const res = await call(control.url, 'GET', '/readyz');
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('NOT_READY');
    expect((await call(control.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(control.url, 'GET', '/api/v1/health')).body).toMatchObject({
      status: 'unhealthy',
      store: { kind: 'memory', connected: false },
    });
  });
});

describe('control plane: admin token', () => {
  const token = 'test-admin-token-0123456789';
  let control: TestControl;

  beforeAll(async () => {
    control = await startTestControl({ control: { adminToken: token } });
  });

  afterAll(async () => {
    await control?.close();
  });

  it('requires the token on the API and leaves the probes open', async () => {
    const anonymous = await call(control.url, 'GET', '/api/v1/services');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('UNAUTHORIZED');
    expect((await call(control.url, 'GET', '/api/v1/nothing')).status).toBe(401);
    expect((await call(control.url, 'GET', '/api/v1/mesh/v2/health')).status).toBe(401);

    const wrong = await call(control.url, 'GET', '/api/v1/services', undefined, {
      authorization: 'Bearer test-admin-token-012345678X',
    });
    expect(wrong.status).toBe(401);
    const short = await call(control.url, 'GET', '/api/v1/services', undefined, {
      authorization: 'Bearer x',
    });
    expect(short.status).toBe(401);

    const bearer = await call(control.url, 'GET', '/api/v1/services', undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(bearer.status).toBe(200);
    const header = await call(control.url, 'GET', '/api/v1/services', undefined, {
      'x-trellis-token': token,
    });
    expect(header.status).toBe(200);

    expect((await call(control.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(control.url, 'GET', '/readyz')).status).toBe(200);
  });

  it('requires the token on the OTLP receiver too, so nobody else can write spans', async () => {
    const body = JSON.stringify({ resourceSpans: [] });
    const headers = { 'content-type': 'application/json' };
    const anonymous = await fetch(`${control.url}/v1/traces`, { method: 'POST', body, headers });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    const allowed = await fetch(`${control.url}/v1/traces`, {
      method: 'POST',
      body,
      headers: { ...headers, authorization: `Bearer ${token}` },
    });
    expect(allowed.status).toBe(200);
  });

  it('does not let a doubled or trailing slash, which the router ignores, skip the token', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const created = await call(control.url, 'POST', '/api/v1/services', { name: 'guarded' }, auth);
    expect(created.status).toBe(201);

    const deleted = await call(control.url, 'DELETE', '//api/v1/services/guarded');
    expect(deleted.status).toBe(401);
    expect(deleted.body.error.code).toBe('UNAUTHORIZED');
    expect((await call(control.url, 'GET', '/api/v1/services/guarded', undefined, auth)).status).toBe(200);

    const invoked = await call(control.url, 'POST', '//api/v1/mesh/v2/call', { service_name: 'guarded' });
    expect(invoked.status).toBe(401);
    const spans = await fetch(`${control.url}/v1/traces/`, {
      method: 'POST',
      body: JSON.stringify({ resourceSpans: [] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(spans.status).toBe(401);
  });

  it('refuses to listen beyond loopback without a token', async () => {
    const config = validate(trellisConfig, {
      control: { host: '0.0.0.0', port: 0, dataDir: control.dataDir },
    });
    const error = await startControlNode(config, { logger: pino({ level: 'silent' }) }).catch(
      (e: unknown) => e,
    );
    expect(isMeshError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('BAD_REQUEST');
    expect((error as Error).message).toMatch(/admin token/);
  });
});
