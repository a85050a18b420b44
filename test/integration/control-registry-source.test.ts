/** The control plane's DiscoverySource over its in-process registry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../src/config/index.ts';
import { createRegistrySource } from '../../src/control/index.ts';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';

describe('registry-backed discovery source', () => {
  let node: TestControl;

  beforeAll(async () => {
    node = await startTestControl({ gateway: { enabled: false } });
  });

  afterAll(async () => {
    await node?.close();
  });

  it('serves instances, stored policies and routes, and reports every change while subscribed', async () => {
    const { registry } = node;
    const source = createRegistrySource(registry);
    const subscribersBefore = registry.subscriberCount();
    let changes = 0;
    const unsubscribe = source.onChange(() => {
      changes++;
    });
    expect(registry.subscriberCount()).toBe(subscribersBefore + 1);

    await registry.registerInstance({
      service: 'src-a',
      address: '127.0.0.1',
      port: 9001,
      tags: [],
      metadata: {},
      weight: 100,
    });
    await eventually(() => changes > 0);
    expect(source.instancesOf('src-a').map((instance) => instance.port)).toEqual([9001]);
    expect(source.instancesOf('src-missing')).toEqual([]);

    // No stored policy: undefined, so the proxy applies its own default.
    expect(source.policy('src-a')).toBeUndefined();
    const seen = changes;
    await registry.setPolicy('src-a', resolvePolicy('src-a', { loadBalancer: { kind: 'random' } }));
    await eventually(() => changes > seen);
    expect(source.policy('src-a')?.loadBalancer.kind).toBe('random');

    const routes = source.routes();
    expect(source.routes()).toBe(routes);
    await registry.putRoute({
      name: 'src-route',
      priority: 0,
      match: { path: { prefix: '/a' } },
      service: 'src-a',
      stripPrefix: false,
    });
    await eventually(() => source.routes() !== routes);
    expect(source.routes().map((route) => route.name)).toContain('src-route');

    unsubscribe();
    expect(registry.subscriberCount()).toBe(subscribersBefore);
    source.close();
  });
});
