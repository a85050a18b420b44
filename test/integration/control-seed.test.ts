import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, startTestControl, type TestControl } from '../helpers/control.ts';

const SEED = '/api/v1/mesh/v2';
const INSTANCE_FIELDS = [
  'address',
  'health',
  'metadata',
  'port',
  'service_id',
  'service_name',
  'state',
  'tags',
  'version',
  'weight',
  'zone',
];

describe('control plane: seed-compatible API', () => {
  let control: TestControl;
  let base: string;
  let app: Server;
  let appPort: number;

  beforeAll(async () => {
    app = createServer((req, res) => {
      res.statusCode = req.url === '/health' ? 200 : 404;
      res.end('ok');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appPort = (app.address() as AddressInfo).port;
    control = await startTestControl();
    base = control.url;
  });

  afterAll(async () => {
    await control?.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  });

  it('registers with the seed body and answers in the seed shape', async () => {
    const registered = await call(base, 'POST', `${SEED}/register`, {
      service_name: 'legacy',
      address: '127.0.0.1',
      port: appPort,
      tags: ['v1'],
      metadata: { build: 42, canary: false },
      health_check: '/health',
    });
    expect(registered.status).toBe(200);
    expect(registered.body).toEqual({
      service_id: `legacy-127.0.0.1-${appPort}`,
      status: 'registered',
      message: 'Service legacy registered successfully',
    });

    // Ports as strings and unknown fields are accepted, as the seed mesh did.
    const second = await call(base, 'POST', `${SEED}/register`, {
      service_name: 'legacy',
      address: '127.0.0.2',
      port: '9999',
      extra_field: 'ignored',
    });
    expect(second.status).toBe(200);
    expect(second.body.service_id).toBe('legacy-127.0.0.2-9999');

    const instance = control.registry.getInstance(`legacy-127.0.0.1-${appPort}`)!;
    expect(instance.check).toMatchObject({
      type: 'http',
      url: `http://127.0.0.1:${appPort}/health`,
      intervalMs: 10_000,
    });
    expect(instance.metadata).toEqual({ build: '42', canary: 'false' });
  });

  it('rejects an invalid registration naming the field', async () => {
    const missing = await call(base, 'POST', `${SEED}/register`, {
      service_name: 'legacy',
      address: '127.0.0.1',
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('BAD_REQUEST');
    expect(missing.body.error.details[0].path).toBe('port');
    const badPort = await call(base, 'POST', `${SEED}/register`, {
      service_name: 'legacy',
      address: '127.0.0.1',
      port: 0,
    });
    expect(badPort.status).toBe(400);
    expect(control.registry.listInstances({ service: 'legacy' })).toHaveLength(2);
  });

  it('discovers instances, and the checked one becomes healthy', async () => {
    const id = `legacy-127.0.0.1-${appPort}`;
    // The unchecked instance is trusted (healthy); mark it down to see the filter at work.
    await control.registry.setHealth('legacy-127.0.0.2-9999', 'unhealthy');
    const healthy = await eventually(async () => {
      const found = await call(base, 'GET', `${SEED}/discover/legacy`);
      const mine = found.body.instances.find((i: { service_id: string }) => i.service_id === id);
      return mine?.state === 'healthy' ? found : undefined;
    }, 20_000);
    expect(healthy.status).toBe(200);
    expect(healthy.body.service_name).toBe('legacy');
    expect(healthy.body.count).toBe(2);
    expect(healthy.body.instances).toHaveLength(2);
    for (const instance of healthy.body.instances)
      expect(Object.keys(instance).sort()).toEqual(INSTANCE_FIELDS);
    const mine = healthy.body.instances.find((i: { service_id: string }) => i.service_id === id);
    expect(mine).toEqual({
      service_id: id,
      service_name: 'legacy',
      address: '127.0.0.1',
      port: appPort,
      state: 'healthy',
      health: 'healthy',
      tags: ['v1'],
      metadata: { build: '42', canary: 'false' },
      weight: 100,
      zone: null,
      version: null,
    });

    const onlyHealthy = await call(base, 'GET', `${SEED}/discover/legacy?healthy=true`);
    expect(onlyHealthy.body.count).toBe(1);
    expect(onlyHealthy.body.instances[0].service_id).toBe(id);

    const unknown = await call(base, 'GET', `${SEED}/discover/nobody`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('SERVICE_NOT_FOUND');
  });

  it('reports health per service', async () => {
    const health = await call(base, 'GET', `${SEED}/health`);
    expect(health.status).toBe(200);
    expect(Object.keys(health.body).sort()).toEqual(['services', 'status', 'store', 'timestamp']);
    expect(['healthy', 'degraded', 'unhealthy']).toContain(health.body.status);
    expect(health.body.store).toEqual({ kind: 'memory', connected: true });
    expect(Number.isNaN(Date.parse(health.body.timestamp))).toBe(false);
    const legacy = health.body.services.legacy;
    expect(legacy.total).toBe(2);
    expect(legacy.healthy).toBe(1);
    expect(legacy.instances).toHaveLength(2);
    for (const instance of legacy.instances) {
      expect(Object.keys(instance).sort()).toEqual(['address', 'port', 'service_id', 'state']);
    }
  });

  it('serves a topology', async () => {
    const topology = await call(base, 'GET', `${SEED}/topology`);
    expect(topology.status).toBe(200);
    expect(topology.body.edges).toEqual([]);
    expect(topology.body.nodes).toContainEqual({ id: 'legacy', type: 'service', instances: 2, healthy: 1 });
    expect(topology.body.instances).toHaveLength(2);
    expect(Object.keys(topology.body.instances[0]).sort()).toEqual(INSTANCE_FIELDS);
  });

  it('deregisters by service id', async () => {
    const deleted = await call(base, 'DELETE', `${SEED}/services/legacy-127.0.0.2-9999`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({
      service_id: 'legacy-127.0.0.2-9999',
      status: 'deregistered',
      message: 'Service legacy-127.0.0.2-9999 deregistered successfully',
    });
    const again = await call(base, 'DELETE', `${SEED}/services/legacy-127.0.0.2-9999`);
    expect(again.status).toBe(404);
    expect(again.body.error).toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
    const found = await call(base, 'GET', `${SEED}/discover/legacy`);
    expect(found.body.count).toBe(1);
  });
});
