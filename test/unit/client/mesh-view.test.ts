import { describe, expect, it } from 'vitest';
import { createMeshView, fullJitterDelay } from '../../../src/client/index.ts';
import type { Instance } from '../../../src/core/index.ts';

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

    view.reset({ revision: 5, services: [web], instances: [instance('a', 'web')] });
    expect(view.snapshot()).toEqual({ revision: 5, services: [web], instances: [instance('a', 'web')] });

    expect(view.apply({ type: 'instance.put', revision: 6, instance: instance('b', 'web') })).toBe(true);
    expect(view.instancesOf('web').map((i) => i.id)).toEqual(['a', 'b']);
    expect(view.apply({ type: 'instance.delete', revision: 7, id: 'a', service: 'web' })).toBe(true);
    expect(view.snapshot()!.instances.map((i) => i.id)).toEqual(['b']);
    expect(view.revision()).toBe(7);
  });

  it('ignores changes older than the view', () => {
    const view = createMeshView();
    view.reset({ revision: 10, services: [], instances: [] });
    expect(view.apply({ type: 'instance.put', revision: 9, instance: instance('old', 'web') })).toBe(false);
    expect(view.instance('old')).toBeUndefined();
  });

  it('moves an instance whose service changed, and drops instances with their service', () => {
    const view = createMeshView();
    view.reset({ revision: 1, services: [web], instances: [instance('a', 'web')] });
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
    view.reset({ revision: 1, services: [], instances: [] });
    const first = view.snapshot();
    expect(view.snapshot()).toBe(first);
    view.apply({ type: 'service.put', revision: 2, service: web });
    expect(view.snapshot()).not.toBe(first);
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
