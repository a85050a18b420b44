/** The control client's policy and route calls, and watchMesh keeping policies and routes current. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient, type MeshWatch, watchMesh } from '../../src/client/index.ts';
import { defaultPolicy } from '../../src/config/index.ts';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';

describe('control client: policies and routes', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('reads, replaces, patches and resets policies, and manages routes', async () => {
    const node = await startTestControl();
    cleanup.push(() => node.close());
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());

    await expect(client.getPolicy('orders')).rejects.toMatchObject({ code: 'SERVICE_NOT_FOUND' });
    const set = await client.setPolicy('orders', { retry: { maxAttempts: 3 }, timeout: { requestMs: '2s' } });
    expect(set).toMatchObject({ service: 'orders', retry: { maxAttempts: 3 }, timeout: { requestMs: 2000 } });
    const patched = await client.patchPolicy('orders', { loadBalancer: { kind: 'weighted' } });
    expect(patched).toMatchObject({ loadBalancer: { kind: 'weighted' }, retry: { maxAttempts: 3 } });
    expect(await client.getPolicy('orders')).toEqual(patched);
    expect(await client.listPolicies()).toEqual([patched]);
    await expect(client.patchPolicy('orders', { retry: { maxAttempts: 99 } })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      details: [{ path: 'retry.maxAttempts' }],
    });
    expect(await client.resetPolicy('orders')).toEqual(defaultPolicy('orders'));
    expect(await client.listPolicies()).toEqual([]);

    const route = await client.createRoute({
      name: 'api',
      service: 'orders',
      match: { path: { prefix: '/api' } },
    });
    expect(route).toMatchObject({ name: 'api', priority: 0, stripPrefix: false });
    await expect(client.createRoute({ name: 'api', service: 'x' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const replaced = await client.putRoute('api', { service: 'billing' });
    expect(replaced).toMatchObject({ name: 'api', service: 'billing', createdAt: route.createdAt });
    expect(await client.getRoute('api')).toEqual(replaced);
    expect(await client.listRoutes()).toEqual([replaced]);
    await client.deleteRoute('api');
    await expect(client.getRoute('api')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(client.deleteRoute('api')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('watchMesh keeps policies and routes current, across a control-plane restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'trellis-client-policies-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    let node: TestControl = await startTestControl({}, { dataDir });
    cleanup.push(() => node.close());
    const port = node.port;
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());

    await client.setPolicy('orders', { retry: { maxAttempts: 3 } });
    await client.createRoute({ name: 'old', service: 'orders' });

    const states: boolean[] = [];
    let notified = 0;
    const watch: MeshWatch = watchMesh({
      url: node.url,
      onState: (connected) => states.push(connected),
      backoff: { baseMs: 20, capMs: 200 },
    });
    cleanup.push(() => watch.close());
    const unsubscribe = watch.subscribe(() => {
      notified++;
    });

    const first = await watch.ready();
    expect(first.policies.map((policy) => policy.service)).toEqual(['orders']);
    expect(watch.policy('orders')?.retry.maxAttempts).toBe(3);
    expect(watch.policy('web')).toBeUndefined();
    expect(watch.routes().map((route) => route.name)).toEqual(['old']);
    expect(notified).toBe(1);

    // Live changes.
    await client.patchPolicy('orders', { loadBalancer: { kind: 'round-robin' } });
    await client.setPolicy('web', { upstreamProtocol: 'h2c' });
    await client.createRoute({ name: 'new', service: 'web', match: { path: { prefix: '/web' } } });
    await eventually(() => watch.routes().some((route) => route.name === 'new'));
    expect(watch.policy('orders')?.loadBalancer.kind).toBe('round-robin');
    expect(watch.policy('web')?.upstreamProtocol).toBe('h2c');
    expect(notified).toBeGreaterThanOrEqual(4);

    // The control plane goes away: the view stays as it was.
    await node.close();
    await eventually(() => states.includes(false));
    expect(watch.policy('orders')?.loadBalancer.kind).toBe('round-robin');
    expect(watch.routes()).toHaveLength(2);

    // A new node on the same data and port; changes made there reach the watcher after it reconnects.
    node = await startTestControl({ control: { port } }, { dataDir });
    const client2 = createControlClient({ url: node.url });
    cleanup.push(() => client2.close());
    await client2.resetPolicy('orders');
    await client2.patchPolicy('web', { retry: { maxAttempts: 5 } });
    await client2.deleteRoute('old');
    await client2.putRoute('new', { service: 'web', priority: 7 });

    await eventually(() => watch.connected(), 15_000);
    await eventually(() => watch.routes().length === 1 && watch.routes()[0]!.priority === 7, 10_000);
    expect(watch.policy('orders')).toBeUndefined();
    expect(watch.policy('web')).toMatchObject({ upstreamProtocol: 'h2c', retry: { maxAttempts: 5 } });
    const snapshot = await client2.snapshot();
    expect(watch.revision()).toBe(snapshot.revision);
    expect(watch.view()!.policies).toEqual(snapshot.policies);
    expect(watch.view()!.routes).toEqual(snapshot.routes);

    unsubscribe();
    const before = notified;
    await client2.resetPolicy('web');
    await eventually(() => watch.policy('web') === undefined);
    expect(notified).toBe(before);
    await watch.close();
  });
});
