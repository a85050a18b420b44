import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient, type MeshWatch, watchMesh } from '../../src/client/index.ts';
import type { MeshChange, MeshSnapshot } from '../../src/core/index.ts';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';

describe('watchMesh against a real control node', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('follows the mesh, keeps its view while the control plane is down, and catches up after', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'trellis-client-watch-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));

    let node: TestControl = await startTestControl({}, { dataDir });
    cleanup.push(() => node.close());
    const port = node.port;
    const client = createControlClient({ url: node.url });
    cleanup.push(() => client.close());

    await client.registerInstance({ service: 'web', address: '127.0.0.1', port: 8081, id: 'web-1' });

    const states: boolean[] = [];
    const snapshots: MeshSnapshot[] = [];
    const changes: MeshChange[] = [];
    const watch: MeshWatch = watchMesh({
      url: node.url,
      onState: (connected) => states.push(connected),
      onSnapshot: (snapshot) => snapshots.push(snapshot),
      onChange: (change) => changes.push(change),
      backoff: { baseMs: 20, capMs: 200 },
    });
    cleanup.push(() => watch.close());

    const first = await watch.ready();
    expect(first.instances.map((instance) => instance.id)).toEqual(['web-1']);
    expect(watch.connected()).toBe(true);
    expect(states).toEqual([true]);

    // Changes arrive and update the view.
    await client.registerInstance({ service: 'web', address: '127.0.0.1', port: 8082, id: 'web-2' });
    await client.registerInstance({ service: 'api', address: '127.0.0.1', port: 9001, id: 'api-1' });
    await eventually(() => watch.instance('api-1'));
    expect(
      watch
        .instancesOf('web')
        .map((instance) => instance.id)
        .sort(),
    ).toEqual(['web-1', 'web-2']);
    await client.deregisterInstance('web-1');
    await eventually(() => watch.instance('web-1') === undefined);
    expect(changes.some((change) => change.type === 'instance.delete' && change.id === 'web-1')).toBe(true);
    expect(watch.revision()).toBe((await client.snapshot()).revision);

    // The control plane goes away: the watcher says so and keeps serving what it knew.
    const before = watch.view();
    await node.close();
    await eventually(() => states.includes(false));
    expect(watch.connected()).toBe(false);
    expect(watch.view()).toEqual(before);
    expect(watch.instancesOf('web').map((instance) => instance.id)).toEqual(['web-2']);

    // A new node on the same data and port: the watcher reconnects by itself and catches up with
    // what the new node wrote (its static services) before it could reconnect.
    node = await startTestControl(
      {
        control: { port },
        services: [{ name: 'late', instances: [{ id: 'late-1', address: '127.0.0.1', port: 9100 }] }],
      },
      { dataDir },
    );
    await eventually(() => watch.connected(), 15_000);
    await eventually(() => watch.instance('late-1'), 10_000);
    expect(watch.instance('web-2')).toBeDefined();
    expect(watch.instance('web-1')).toBeUndefined();
    expect(states).toEqual([true, false, true]);

    // And it follows live changes again.
    const client2 = createControlClient({ url: node.url });
    cleanup.push(() => client2.close());
    await client2.registerInstance({ service: 'web', address: '127.0.0.1', port: 8083, id: 'web-3' });
    await eventually(() => watch.instance('web-3'));
    expect(watch.revision()).toBe((await client2.snapshot()).revision);
    expect(
      watch
        .view()!
        .instances.map((instance) => instance.id)
        .sort(),
    ).toEqual((await client2.snapshot()).instances.map((instance) => instance.id).sort());

    await watch.close();
    expect(watch.connected()).toBe(false);
  });

  it('reports an unreachable control plane and rejects ready() when closed before any view', async () => {
    const errors: string[] = [];
    const watch = watchMesh({
      url: 'http://127.0.0.1:1',
      backoff: { baseMs: 10, capMs: 50 },
      onError: (error) => errors.push(error.code),
    });
    await eventually(() => errors.length >= 2);
    expect(errors[0]).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(watch.view()).toBeUndefined();
    await watch.close();
    await expect(watch.ready()).rejects.toMatchObject({ code: 'CONTROL_PLANE_UNAVAILABLE' });
  });

  it('sends the admin token', async () => {
    const token = 'a-long-enough-admin-token';
    const node = await startTestControl({ control: { adminToken: token } });
    cleanup.push(() => node.close());
    const errors: string[] = [];
    const denied = watchMesh({
      url: node.url,
      backoff: { baseMs: 10, capMs: 50 },
      onError: (e) => errors.push(e.code),
    });
    await eventually(() => errors.length > 0);
    expect(errors[0]).toBe('UNAUTHORIZED');
    await denied.close();

    const allowed = watchMesh({ url: node.url, token });
    cleanup.push(() => allowed.close());
    expect((await allowed.ready()).revision).toBeGreaterThanOrEqual(0);
    await allowed.close();
  });
});
