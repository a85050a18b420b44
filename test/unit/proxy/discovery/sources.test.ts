import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Instance, MeshSnapshot, Route, ServicePolicy } from '../../../../src/core/index.ts';
import {
  createStaticSource,
  createWatchSource,
  type MeshWatchLike,
} from '../../../../src/proxy/discovery/index.ts';
import { ClusterManager, defaultServicePolicy } from '../../../../src/proxy/upstream/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

const logger = pino({ level: 'silent' });

function inst(id: string, service: string, port = 1000): Instance {
  return {
    id,
    service,
    address: '127.0.0.1',
    port,
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: 0,
    healthChangedAt: 0,
  };
}

const route: Route = { name: 'r', priority: 0, match: {}, service: 'a', stripPrefix: false, createdAt: 0 };

/** A stand-in for the client's MeshWatch: a snapshot that tests replace. */
function fakeWatch(snapshot: MeshSnapshot) {
  const state = { snapshot };
  const watch: MeshWatchLike & { set(next: MeshSnapshot): void } = {
    view: () => state.snapshot,
    revision: () => state.snapshot.revision,
    instancesOf: (service) => state.snapshot.instances.filter((i) => i.service === service),
    set(next) {
      state.snapshot = next;
    },
  };
  return watch;
}

describe('static source', () => {
  it('serves what it was given and notifies on update', () => {
    const source = createStaticSource({ instances: [inst('a1', 'a'), inst('b1', 'b')], routes: [route] });
    let changes = 0;
    const off = source.onChange(() => changes++);
    expect(source.instancesOf('a').map((i) => i.id)).toEqual(['a1']);
    expect(source.instancesOf('zzz')).toEqual([]);
    expect(source.routes()).toEqual([route]);
    expect(source.policy('a')).toBeUndefined();
    const policy = { ...defaultServicePolicy('a'), loadBalancer: { kind: 'random' as const } };
    source.update({ policies: [policy], defaultPolicy: (s) => defaultServicePolicy(s) });
    expect(changes).toBe(1);
    expect(source.policy('a')).toBe(policy);
    expect(source.policy('b')?.service).toBe('b');
    off();
    source.update({ instances: [] });
    expect(changes).toBe(1);
    expect(source.instancesOf('a')).toEqual([]);
  });
});

describe('watch source', () => {
  const base: MeshSnapshot = {
    revision: 1,
    services: [],
    instances: [inst('a1', 'a')],
    policies: [],
    routes: [route],
  };

  it('reads instances, policies and routes from the view, with the default policy as fallback', () => {
    const policy: ServicePolicy = { ...defaultServicePolicy('a'), loadBalancer: { kind: 'weighted' } };
    const watch = fakeWatch({ ...base, policies: [policy] });
    const source = createWatchSource(watch, (service) => ({
      ...defaultServicePolicy(service),
      upstreamProtocol: 'h2c',
    }));
    expect(source.instancesOf('a').map((i) => i.id)).toEqual(['a1']);
    expect(source.policy('a')).toBe(policy);
    expect(source.policy('b')?.upstreamProtocol).toBe('h2c');
    expect(source.routes()).toEqual([route]);
  });

  it('notices changes by polling the revision when the watch has no subscription', () => {
    const clock = createFakeClock();
    const watch = fakeWatch(base);
    const source = createWatchSource(watch, defaultServicePolicy, { clock, pollMs: 100 });
    let changes = 0;
    const off = source.onChange(() => changes++);
    clock.advance(250);
    expect(changes).toBe(0);
    watch.set({ ...base, revision: 2 });
    clock.advance(100);
    expect(changes).toBe(1);
    clock.advance(500);
    expect(changes).toBe(1);
    source.notify();
    expect(changes).toBe(2);
    off();
    expect(clock.pendingTimers).toBe(0);
  });

  it('uses the watch subscription when there is one', () => {
    const clock = createFakeClock();
    const listeners = new Set<() => void>();
    const watch = {
      ...fakeWatch(base),
      subscribe(listener: () => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const source = createWatchSource(watch, defaultServicePolicy, { clock });
    let changes = 0;
    const off = source.onChange(() => changes++);
    expect(clock.pendingTimers).toBe(0);
    for (const listener of listeners) listener();
    expect(changes).toBe(1);
    off();
    expect(listeners.size).toBe(0);
  });
});

describe('cluster manager', () => {
  it('creates clusters on demand and refreshes them when the source changes', async () => {
    const source = createStaticSource({ instances: [inst('a1', 'a', 1001)] });
    const clock = createFakeClock();
    const manager = new ClusterManager({ source, clock, logger });
    expect(manager.get('nobody')).toBeUndefined();
    expect(manager.errorsFor('nobody').noHealthy.code).toBe('NO_HEALTHY_UPSTREAM');
    const cluster = manager.get('a')!;
    expect(manager.get('a')).toBe(cluster);
    expect(cluster.endpoints.map((e) => e.port)).toEqual([1001]);
    let refreshed = 0;
    manager.onRefresh(() => refreshed++);
    source.update({
      instances: [inst('a1', 'a', 1001), inst('a2', 'a', 1002), inst('n1', 'nobody')],
      policies: [{ ...defaultServicePolicy('a'), loadBalancer: { kind: 'random' } }],
    });
    source.update({});
    await Promise.resolve();
    expect(refreshed).toBe(1);
    expect(cluster.endpoints.map((e) => e.port)).toEqual([1001, 1002]);
    expect(cluster.balancer.kind).toBe('random');
    // A service that got instances is no longer remembered as unknown.
    expect(manager.get('nobody')).toBeDefined();
    manager.close();
  });
});
