import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient } from '../../src/client/index.ts';
import { connect, type Mesh } from '../../src/index.ts';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { startForwarder } from '../helpers/tcp-forwarder.ts';
import { startApp } from './sdk-apps.ts';

const logger = pino({ level: 'silent' });

describe('SDK: connect and register against a real control plane', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  async function control(overrides: Parameters<typeof startTestControl>[0] = {}): Promise<TestControl> {
    const node = await startTestControl(overrides);
    cleanup.push(() => node.close());
    return node;
  }

  async function meshOn(node: TestControl, token?: string): Promise<Mesh> {
    const mesh = await connect({ control: node.url, token, logger });
    cleanup.push(() => mesh.close());
    return mesh;
  }

  it('registers with an HTTP check, becomes healthy, is reachable by fetch, and deregisters', async () => {
    const node = await control();
    const app = await startApp('web-1');
    cleanup.push(() => app.close());
    const mesh = await meshOn(node);
    expect(mesh.connected()).toBe(true);

    const registration = await mesh.register({
      service: 'web',
      port: app.port,
      healthPath: '/health',
      checkInterval: '200ms',
      tags: ['v1'],
      metadata: { team: 'a' },
      zone: 'local-a',
      version: '1.2.3',
    });
    expect(registration.id).toBe(`web-127.0.0.1-${app.port}`);
    expect(registration.instance).toMatchObject({
      service: 'web',
      port: app.port,
      tags: ['v1'],
      zone: 'local-a',
    });
    expect(registration.instance.check).toMatchObject({
      type: 'http',
      url: `http://127.0.0.1:${app.port}/health`,
    });

    await eventually(() => mesh.instances('web').some((instance) => instance.health === 'healthy'));
    const response = await mesh.fetch('web', '/hello?x=1');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ app: 'web-1', method: 'GET', url: '/hello?x=1' });

    await registration.deregister();
    await registration.deregister();
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());
    expect((await client.listInstances({ service: 'web' })).instances).toEqual([]);
    await eventually(() => mesh.instances('web').length === 0);
    await expect(mesh.fetch('web', '/')).rejects.toMatchObject({ code: 'NO_HEALTHY_UPSTREAM' });
  });

  it('keeps a TTL instance healthy with heartbeats and deregisters everything on close', async () => {
    const node = await control();
    const mesh = await connect({ control: node.url, logger });
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());

    const first = await mesh.register({
      service: 'orders',
      port: 9001,
      ttl: '600ms',
      checkInterval: '100ms',
    });
    const second = await mesh.register({ service: 'orders', port: 9002, id: 'orders-b', ttl: '600ms' });
    expect(first.instance.check).toMatchObject({ type: 'ttl', ttlMs: 600 });
    expect(second.id).toBe('orders-b');
    await eventually(async () => (await client.getInstance(first.id)).health === 'healthy');
    // Well past its TTL it is still healthy: the heartbeats (every 333 ms) keep it so.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await client.getInstance(first.id)).health).toBe('healthy');

    await mesh.close();
    await mesh.close();
    expect((await client.listInstances({ service: 'orders' })).instances).toEqual([]);
    await expect(mesh.fetch('orders', '/')).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(mesh.register({ service: 'orders', port: 9003 })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
  });

  it('registers an instance again when the control plane forgot it', async () => {
    const node = await control();
    const mesh = await meshOn(node);
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());
    const registration = await mesh.register({ service: 'cart', port: 9100, ttl: '300ms' });
    await client.deregisterInstance(registration.id);
    await eventually(
      async () => (await client.listInstances({ service: 'cart' })).instances.length === 1,
      5_000,
    );
  });

  it('registers an HTTP-checked instance again when the control plane forgot it, or came back without it', async () => {
    const port = await freePort();
    const first = await control({ control: { port } });
    const forwarder = await startForwarder(port);
    cleanup.push(() => forwarder.down());
    const app = await startApp('api-1');
    cleanup.push(() => app.close());
    const mesh = await connect({ control: `http://127.0.0.1:${forwarder.port}`, logger });
    cleanup.push(() => mesh.close());
    const registration = await mesh.register({ service: 'api', port: app.port, healthPath: '/health' });
    const known = async (node: TestControl) => {
      const client = createControlClient({ url: node.url });
      try {
        return (await client.listInstances({ service: 'api' })).instances.map((instance) => instance.id);
      } finally {
        await client.close();
      }
    };

    // Removed by hand: the watch shows it gone, and the SDK puts it back (no heartbeats carry it).
    const client = createControlClient({ url: first.url });
    cleanup.push(() => client.close());
    await client.deregisterInstance(registration.id);
    await eventually(async () => (await known(first)).includes(registration.id), 5_000);

    // The control plane restarts on an empty store: the reconnection registers it there.
    await forwarder.down();
    await first.close();
    const second = await control({ control: { port } });
    await forwarder.up();
    await eventually(async () => (await known(second)).includes(registration.id), 10_000);
    await eventually(() => mesh.connected());
  });

  it('refuses a bad registration with the path of the bad field, before sending it', async () => {
    const node = await control();
    const mesh = await meshOn(node);
    await expect(mesh.register({ service: 'web', port: 70_000 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      details: [expect.objectContaining({ path: 'port' })],
    });
  });

  it('rejects with CONTROL_PLANE_UNAVAILABLE when nothing answers within the connect timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(
      connect({ control: `http://127.0.0.1:${port}`, connectTimeout: '300ms', logger }),
    ).rejects.toMatchObject({ code: 'CONTROL_PLANE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects at once when the control plane refuses the token', async () => {
    const node = await control({ control: { adminToken: 'a-long-enough-admin-token' } });
    await expect(
      connect({ control: node.url, token: 'wrong-token-wrong-token', logger }),
    ).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    const mesh = await meshOn(node, 'a-long-enough-admin-token');
    const registration = await mesh.register({ service: 'web', port: 9200 });
    expect(registration.instance.service).toBe('web');
  });
});
