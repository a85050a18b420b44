import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlClient, createControlClient } from '../../src/client/index.ts';
import { startTestControl, type TestControl } from '../helpers/control.ts';
import { rejection as failure } from '../helpers/mesh-error.ts';
import { freePort } from '../helpers/ports.ts';

describe('createControlClient against a real control node', () => {
  let node: TestControl;
  let client: ControlClient;

  beforeAll(async () => {
    node = await startTestControl();
    client = createControlClient({ url: `${node.url}/` });
  });

  afterAll(async () => {
    await client?.close();
    await node?.close();
  });

  it('registers, lists, reads and deletes', async () => {
    const service = await client.createService({ name: 'orders', tags: ['backend'] });
    expect(service).toMatchObject({ name: 'orders', tags: ['backend'] });

    const instance = await client.registerInstance({
      service: 'orders',
      address: '127.0.0.1',
      port: 9001,
      check: { ttl: '10s' },
    });
    expect(instance).toMatchObject({
      id: 'orders-127.0.0.1-9001',
      service: 'orders',
      port: 9001,
      weight: 100,
    });
    expect(instance.check).toMatchObject({ type: 'ttl', ttlMs: 10_000 });
    await client.heartbeat(instance.id);

    expect((await client.listServices()).find((summary) => summary.name === 'orders')).toBeDefined();
    const detail = await client.getService('orders');
    expect(detail.instances.map((each) => each.id)).toEqual([instance.id]);
    const list = await client.listInstances({
      service: 'orders',
      health: ['healthy', 'unknown', 'degraded', 'unhealthy'],
    });
    expect(list.instances.map((each) => each.id)).toEqual([instance.id]);
    expect(list.revision).toBeGreaterThan(0);
    expect((await client.getInstance(instance.id)).id).toBe(instance.id);
    expect((await client.snapshot()).instances.map((each) => each.id)).toContain(instance.id);
    expect((await client.health()).instances.total).toBeGreaterThanOrEqual(1);

    await client.deregisterInstance(instance.id);
    expect((await failure(() => client.getInstance(instance.id))).code).toBe('INSTANCE_NOT_FOUND');
    await client.deleteService('orders');
    expect((await failure(() => client.getService('orders'))).code).toBe('SERVICE_NOT_FOUND');
  });

  it('rebuilds validation errors with their details', async () => {
    const error = await failure(() =>
      client.registerInstance({ service: 'web', address: '127.0.0.1', port: 70000 }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.status).toBe(400);
    expect(error.details).toContainEqual({ path: 'port', message: 'ports are 1-65535' });
  });

  it('throws CONTROL_PLANE_UNAVAILABLE naming the URL when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const offline = createControlClient({ url, timeoutMs: 2000 });
    const error = await failure(() => offline.listServices());
    expect(error.code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(error.message).toContain(url);
    await offline.close();
  });

  it('sends the admin token', async () => {
    const token = 'a-long-enough-admin-token';
    const secured = await startTestControl({ control: { adminToken: token } });
    try {
      const anonymous = createControlClient({ url: secured.url });
      expect((await failure(() => anonymous.listServices())).code).toBe('UNAUTHORIZED');
      await anonymous.close();
      const admin = createControlClient({ url: secured.url, token });
      expect(await admin.listServices()).toEqual([]);
      await admin.close();
    } finally {
      await secured.close();
    }
  });

  it('rejects a URL that is not http', async () => {
    expect(() => createControlClient({ url: 'ftp://x' })).toThrow(/only http and https/);
    expect(() => createControlClient({ url: 'nope' })).toThrow(/invalid control-plane URL/);
  });
});
