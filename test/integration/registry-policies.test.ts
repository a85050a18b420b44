/** Policies and routes in the registry, on the embedded store and on a real etcd. */
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultPolicy,
  instanceRegistration,
  resolvePolicy,
  routeInput,
  validate,
} from '../../src/config/index.ts';
import { isMeshError, type MeshChange } from '../../src/core/index.ts';
import { createRegistry, type Registry } from '../../src/registry/index.ts';
import { EtcdStore, MemoryStore, type Store } from '../../src/store/index.ts';
import { type EtcdProcess, startEtcd } from '../helpers/etcd.ts';

const logger = pino({ level: 'silent' });

const route = (input: Record<string, unknown>) =>
  validate(routeInput, { name: 'api', service: 'orders', match: { path: { prefix: '/api' } }, ...input });

async function eventually(assertion: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

let etcd: EtcdProcess;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

let prefixCounter = 0;

const STORES: Array<[string, () => Promise<Store>]> = [
  ['memory', () => MemoryStore.open({})],
  ['etcd', () => EtcdStore.connect({ endpoints: etcd.endpoints, logger })],
];

describe.each(STORES)('registry policies and routes on the %s store', (_kind, openStore) => {
  let store: Store;
  let registry: Registry;
  let keyPrefix: string;

  beforeEach(async () => {
    store = await openStore();
    // etcd is shared by the tests of this file: each test gets its own key space.
    keyPrefix = `/policies-test-${process.pid}-${++prefixCounter}/`;
    registry = await createRegistry({ store, logger, keyPrefix });
  });

  afterEach(async () => {
    await registry.close();
    await store.close();
  });

  it('serves the defaults until a policy is set, then the stored one', async () => {
    expect(registry.getPolicy('orders')).toEqual(defaultPolicy('orders'));
    expect(registry.hasPolicy('orders')).toBe(false);
    expect(registry.listPolicies()).toEqual([]);

    const policy = resolvePolicy('orders', { loadBalancer: { kind: 'round-robin' } });
    const stored = await registry.setPolicy('orders', policy);
    expect(stored).toEqual(policy);
    // Read-your-writes, and the service was created implicitly.
    expect(registry.getPolicy('orders')).toEqual(policy);
    expect(registry.hasPolicy('orders')).toBe(true);
    expect(registry.getService('orders')).toMatchObject({ name: 'orders', tags: [] });
    expect(registry.listPolicies()).toEqual([policy]);
    expect(JSON.parse((await store.get(`${keyPrefix}policies/orders`))!.value)).toEqual(policy);

    expect(await registry.deletePolicy('orders')).toBe(true);
    expect(await registry.deletePolicy('orders')).toBe(false);
    expect(registry.getPolicy('orders')).toEqual(defaultPolicy('orders'));
    // The implicitly created service stays.
    expect(registry.getService('orders')).toBeDefined();
  });

  it('updates a policy read-modify-write, with concurrent patches to different sections both kept', async () => {
    await registry.setPolicy('orders', resolvePolicy('orders', {}));
    const patches = [
      { retry: { maxAttempts: 5 } },
      { timeout: { requestMs: '3s' } },
      { loadBalancer: { kind: 'random' } },
      { concurrency: { maxPending: 7 } },
    ];
    await Promise.all(
      patches.map((patch) =>
        registry.updatePolicy('orders', (current) => resolvePolicy('orders', patch, current)),
      ),
    );
    expect(registry.getPolicy('orders')).toMatchObject({
      retry: { maxAttempts: 5 },
      timeout: { requestMs: 3000 },
      loadBalancer: { kind: 'random' },
      concurrency: { maxPending: 7 },
    });
  });

  it('writes nothing, not even the service, when an update is rejected', async () => {
    const revision = registry.revision();
    let thrown: unknown;
    try {
      await registry.updatePolicy('fresh', (current) =>
        resolvePolicy('fresh', { retry: { maxAttempts: 0 } }, current),
      );
    } catch (error) {
      thrown = error;
    }
    expect(isMeshError(thrown) && thrown.code).toBe('BAD_REQUEST');
    expect(registry.revision()).toBe(revision);
    expect(registry.getService('fresh')).toBeUndefined();
    expect(registry.hasPolicy('fresh')).toBe(false);
  });

  it('stores routes, keeps createdAt on replace, refuses a second create and lists by priority', async () => {
    const created = await registry.createRoute(route({}));
    expect(created).toMatchObject({ name: 'api', service: 'orders', stripPrefix: false, priority: 0 });
    expect(created.createdAt).toBeGreaterThan(0);
    expect(registry.getRoute('api')).toEqual(created);

    let conflict: unknown;
    try {
      await registry.createRoute(route({ service: 'other' }));
    } catch (error) {
      conflict = error;
    }
    expect(isMeshError(conflict) && conflict.code).toBe('CONFLICT');
    expect(registry.getRoute('api')!.service).toBe('orders');

    const replaced = await registry.putRoute(route({ service: 'billing', stripPrefix: true }));
    expect(replaced).toMatchObject({ service: 'billing', stripPrefix: true, createdAt: created.createdAt });

    await registry.putRoute(route({ name: 'b-high', priority: 10 }));
    await registry.putRoute(route({ name: 'a-low', priority: -1 }));
    await registry.putRoute(route({ name: 'a-zero' }));
    expect(registry.listRoutes().map((r) => r.name)).toEqual(['b-high', 'a-zero', 'api', 'a-low']);
    // A route does not create its service.
    expect(registry.getService('billing')).toBeUndefined();

    expect(await registry.deleteRoute('api')).toBe(true);
    expect(await registry.deleteRoute('api')).toBe(false);
    expect(registry.getRoute('api')).toBeUndefined();
  });

  it('puts policies and routes in snapshots, and a second registry on the same store loads them', async () => {
    const policy = await registry.setPolicy('orders', resolvePolicy('orders', { retry: { maxAttempts: 3 } }));
    const stored = await registry.putRoute(route({}));
    const snapshot = registry.snapshot();
    expect(snapshot.policies).toEqual([policy]);
    expect(snapshot.routes).toEqual([stored]);
    expect(snapshot.services.map((s) => s.name)).toEqual(['orders']);

    const other = await createRegistry({ store, logger, keyPrefix });
    try {
      expect(other.getPolicy('orders')).toEqual(policy);
      expect(other.getRoute('api')).toEqual(stored);
      // And it follows the first one's writes.
      await registry.deletePolicy('orders');
      await eventually(() => expect(other.hasPolicy('orders')).toBe(false));
    } finally {
      await other.close();
    }
  });

  it('delivers policy and route changes in store order, and replays them after a revision', async () => {
    const start = registry.revision();
    const live: MeshChange[] = [];
    const subscription = registry.subscribe((change) => live.push(change));

    await registry.registerInstance(
      validate(instanceRegistration, { service: 'orders', address: '127.0.0.1', port: 9001 }),
    );
    await registry.setPolicy('orders', resolvePolicy('orders', { timeout: { requestMs: '1s' } }));
    await registry.putRoute(route({}));
    await registry.updatePolicy('orders', (current) =>
      resolvePolicy('orders', { retry: { maxAttempts: 4 } }, current),
    );
    await registry.deleteRoute('api');
    await registry.deletePolicy('orders');
    subscription.close();

    const types = live.map((change) => change.type);
    expect(types).toEqual([
      'service.put',
      'instance.put',
      'policy.put',
      'route.put',
      'policy.put',
      'route.delete',
      'policy.delete',
    ]);
    const revisions = live.map((change) => change.revision);
    expect([...revisions].sort((a, b) => a - b)).toEqual(revisions);
    const second = live[4] as Extract<MeshChange, { type: 'policy.put' }>;
    expect(second.policy).toMatchObject({
      service: 'orders',
      retry: { maxAttempts: 4 },
      timeout: { requestMs: 1000 },
    });

    // A late subscriber gets the same changes replayed, in the same order.
    const replayed: MeshChange[] = [];
    registry.subscribe((change) => replayed.push(change), start).close();
    expect(replayed).toEqual(live);
  });

  it('deletes the policy with its service', async () => {
    await registry.registerInstance(
      validate(instanceRegistration, { service: 'orders', address: '127.0.0.1', port: 9001 }),
    );
    await registry.setPolicy('orders', resolvePolicy('orders', { retry: { maxAttempts: 3 } }));
    await registry.putRoute(route({}));
    const changes: MeshChange[] = [];
    const subscription = registry.subscribe((change) => changes.push(change));

    expect(await registry.deleteService('orders')).toBe(true);
    subscription.close();
    expect(registry.hasPolicy('orders')).toBe(false);
    expect(await store.get(`${keyPrefix}policies/orders`)).toBeUndefined();
    expect(changes.map((change) => change.type).sort()).toEqual([
      'instance.delete',
      'policy.delete',
      'service.delete',
    ]);
    // Routes name a service but do not belong to it.
    expect(registry.getRoute('api')).toBeDefined();

    // A service that exists only through its policy is deleted too.
    await registry.setPolicy('lonely', resolvePolicy('lonely', {}));
    expect(await registry.deleteService('lonely')).toBe(true);
    expect(registry.hasPolicy('lonely')).toBe(false);
    expect(registry.getService('lonely')).toBeUndefined();
  });
});
