import { describe, expect, it } from 'vitest';
import { createMeshView, fullJitterDelay } from '../../../src/client/index.ts';
import { defaultPolicy } from '../../../src/config/index.ts';
import type { Instance, MeshSnapshot, Route } from '../../../src/core/index.ts';

function instance(id: string, service: string, port = 80): Instance {
  return {
    id,
    service,
    address: '127.0.0.1',
    port,
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: 1,
    healthChangedAt: 1,
  };
}

const web = { name: 'web', tags: [], metadata: {}, createdAt: 1 };

describe('createMeshView', () => {
  it('is empty until a snapshot, then follows changes', () => {
    const view = createMeshView();
    expect(view.snapshot()).toBeUndefined();
    expect(view.apply({ type: 'service.put', revision: 1, service: web })).toBe(false);

    view.reset({ revision: 5, services: [web], instances: [instance('a', 'web')], policies: [], routes: [] });
    expect(view.snapshot()).toEqual({
      revision: 5,
      services: [web],
      instances: [instance('a', 'web')],
      policies: [],
      routes: [],
    });

    expect(view.apply({ type: 'instance.put', revision: 6, instance: instance('b', 'web') })).toBe(true);
    expect(view.instancesOf('web').map((i) => i.id)).toEqual(['a', 'b']);
    expect(view.apply({ type: 'instance.delete', revision: 7, id: 'a', service: 'web' })).toBe(true);
    expect(view.snapshot()!.instances.map((i) => i.id)).toEqual(['b']);
    expect(view.revision()).toBe(7);
  });

  it('ignores changes older than the view', () => {
    const view = createMeshView();
    view.reset({ revision: 10, services: [], instances: [], policies: [], routes: [] });
    expect(view.apply({ type: 'instance.put', revision: 9, instance: instance('old', 'web') })).toBe(false);
    expect(view.instance('old')).toBeUndefined();
  });

  it('moves an instance whose service changed, and drops instances with their service', () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [web], instances: [instance('a', 'web')], policies: [], routes: [] });
    view.apply({ type: 'instance.put', revision: 2, instance: instance('a', 'api') });
    expect(view.instancesOf('web')).toEqual([]);
    expect(view.instancesOf('api').map((i) => i.id)).toEqual(['a']);
    view.apply({ type: 'instance.put', revision: 3, instance: instance('c', 'web') });
    view.apply({ type: 'service.delete', revision: 4, name: 'web' });
    expect(view.service('web')).toBeUndefined();
    expect(view.instance('c')).toBeUndefined();
    expect(view.instance('a')).toBeDefined();
  });

  it('returns the same snapshot object until something changes', () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [], instances: [], policies: [], routes: [] });
    const first = view.snapshot();
    expect(view.snapshot()).toBe(first);
    view.apply({ type: 'service.put', revision: 2, service: web });
    expect(view.snapshot()).not.toBe(first);
  });
});

const route = (name: string, service = 'web'): Route => ({
  name,
  priority: 0,
  match: {},
  service,
  stripPrefix: false,
  createdAt: 1,
});

describe('createMeshView: policies and routes', () => {
  it('keeps policies and routes from the snapshot and follows their changes', () => {
    const view = createMeshView();
    const webPolicy = { ...defaultPolicy('web'), upstreamProtocol: 'h2c' as const };
    view.reset({ revision: 1, services: [web], instances: [], policies: [webPolicy], routes: [route('a')] });
    expect(view.policy('web')).toEqual(webPolicy);
    expect(view.policy('api')).toBeUndefined();
    expect(view.routes()).toEqual([route('a')]);
    expect(view.snapshot()!.policies).toEqual([webPolicy]);

    const apiPolicy = defaultPolicy('api');
    view.apply({ type: 'policy.put', revision: 2, policy: apiPolicy });
    view.apply({ type: 'route.put', revision: 3, route: route('b', 'api') });
    view.apply({ type: 'route.put', revision: 4, route: { ...route('a'), priority: 9 } });
    expect(view.policy('api')).toEqual(apiPolicy);
    expect(view.routes().map((r) => [r.name, r.priority])).toEqual([
      ['a', 9],
      ['b', 0],
    ]);
    view.apply({ type: 'policy.delete', revision: 5, service: 'web' });
    view.apply({ type: 'route.delete', revision: 6, name: 'a' });
    expect(view.policy('web')).toBeUndefined();
    expect(view.routes().map((r) => r.name)).toEqual(['b']);
    expect(view.snapshot()).toMatchObject({
      revision: 6,
      policies: [apiPolicy],
      routes: [route('b', 'api')],
    });
  });

  it('returns the same routes array until the routes change', () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [], instances: [], policies: [], routes: [route('a')] });
    const first = view.routes();
    view.apply({ type: 'policy.put', revision: 2, policy: defaultPolicy('web') });
    expect(view.routes()).toBe(first);
    view.apply({ type: 'route.delete', revision: 3, name: 'a' });
    expect(view.routes()).not.toBe(first);
    expect(view.routes()).toEqual([]);
  });

  it("drops a service's policy with the service", () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [web], instances: [], policies: [defaultPolicy('web')], routes: [] });
    view.apply({ type: 'service.delete', revision: 2, name: 'web' });
    expect(view.policy('web')).toBeUndefined();
  });

  it('accepts a snapshot from a control plane that predates policies and routes', () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [web], instances: [] } as unknown as MeshSnapshot);
    expect(view.routes()).toEqual([]);
    expect(view.snapshot()).toEqual({
      revision: 1,
      services: [web],
      instances: [],
      policies: [],
      routes: [],
    });
  });
});

describe('fullJitterDelay', () => {
  it('grows exponentially up to the cap and is scaled by the random draw', () => {
    const max = () => 0.999999;
    expect(fullJitterDelay(0, { baseMs: 100, capMs: 5000 }, max)).toBe(99);
    expect(fullJitterDelay(3, { baseMs: 100, capMs: 5000 }, max)).toBe(799);
    expect(fullJitterDelay(10, { baseMs: 100, capMs: 5000 }, max)).toBe(4999);
    expect(fullJitterDelay(1000, {}, max)).toBe(4999);
    expect(fullJitterDelay(4, {}, () => 0)).toBe(0);
  });
});
