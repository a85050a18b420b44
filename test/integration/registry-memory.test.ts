import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instanceRegistration, serviceDefinition, validate } from '../../src/config/index.ts';
import { type MeshChange, MeshError } from '../../src/core/index.ts';
import { createRegistry, type Registry } from '../../src/registry/index.ts';
import {
  MemoryStore,
  type Store,
  type Watch,
  type WatchHandlers,
  type WatchOptions,
} from '../../src/store/index.ts';

const logger = pino({ level: 'silent' });

const reg = (input: Record<string, unknown>) =>
  validate(instanceRegistration, { service: 'web', address: '127.0.0.1', port: 8080, ...input });
const svc = (input: Record<string, unknown>) => validate(serviceDefinition, input);

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

describe('registry on the memory store', () => {
  let store: MemoryStore;
  let registry: Registry;

  beforeEach(async () => {
    store = await MemoryStore.open({});
    registry = await createRegistry({ store, logger });
  });

  afterEach(async () => {
    await registry.close();
    await store.close();
  });

  it('registers an instance, creating its service, and reads it back at once', async () => {
    const instance = await registry.registerInstance(reg({ tags: ['v1'] }));
    expect(instance).toMatchObject({
      id: 'web-127.0.0.1-8080',
      service: 'web',
      address: '127.0.0.1',
      port: 8080,
      tags: ['v1'],
      weight: 100,
      health: 'healthy',
    });
    // Read-your-writes: no waiting between the write and the read.
    expect(registry.getInstance('web-127.0.0.1-8080')).toEqual(instance);
    expect(registry.listInstances({ service: 'web' })).toHaveLength(1);
    expect(registry.getService('web')).toMatchObject({ name: 'web', tags: [], metadata: {} });
    expect(registry.revision()).toBeGreaterThan(0);
    expect(JSON.parse((await store.get('/trellis/instances/web/web-127.0.0.1-8080'))!.value)).toMatchObject({
      id: 'web-127.0.0.1-8080',
      health: 'healthy',
    });
  });

  it('upserts services and keeps their creation time', async () => {
    const first = await registry.upsertService(svc({ name: 'api', tags: ['a'] }));
    const second = await registry.upsertService(svc({ name: 'api', tags: ['b'], metadata: { team: 'x' } }));
    expect(second).toMatchObject({
      name: 'api',
      tags: ['b'],
      metadata: { team: 'x' },
      createdAt: first.createdAt,
    });
    expect(registry.getService('api')).toEqual(second);
    // An instance of an existing service leaves the service alone.
    await registry.registerInstance(reg({ service: 'api' }));
    expect(registry.getService('api')).toEqual(second);
  });

  it('starts instances with a check unknown, without one healthy', async () => {
    const http = await registry.registerInstance(reg({ id: 'h', check: { http: '/health' } }));
    expect(http.health).toBe('unknown');
    expect(http.check).toMatchObject({
      type: 'http',
      url: 'http://127.0.0.1:8080/health',
      intervalMs: 10_000,
    });
    const ttl = await registry.registerInstance(reg({ id: 't', check: { ttl: '5s' } }));
    expect(ttl.health).toBe('unknown');
    expect(ttl.check).toMatchObject({ type: 'ttl', ttlMs: 5000 });
    expect((await registry.registerInstance(reg({ id: 'n' }))).health).toBe('healthy');
  });

  it('re-registering replaces the spec and keeps health unless the check changed', async () => {
    await registry.registerInstance(reg({ id: 'a', check: { http: '/health' } }));
    await registry.setHealth('a', 'healthy', 'HTTP 200');
    const same = await registry.registerInstance(reg({ id: 'a', tags: ['new'], check: { http: '/health' } }));
    expect(same).toMatchObject({ tags: ['new'], health: 'healthy', healthOutput: 'HTTP 200' });
    const changed = await registry.registerInstance(reg({ id: 'a', check: { http: '/ready' } }));
    expect(changed.health).toBe('unknown');
    expect(changed.healthOutput).toBeUndefined();
    expect(registry.listInstances()).toHaveLength(1);
  });

  it('moves an id registered again under another service', async () => {
    await registry.registerInstance(reg({ id: 'x', service: 'one' }));
    const changes: MeshChange[] = [];
    registry.subscribe((change) => changes.push(change));
    await registry.registerInstance(reg({ id: 'x', service: 'two' }));
    expect(registry.getInstance('x')?.service).toBe('two');
    expect(registry.listInstances({ service: 'one' })).toEqual([]);
    expect(changes.map((c) => c.type)).toEqual(['service.put', 'instance.delete', 'instance.put']);
  });

  it('deregisters', async () => {
    await registry.registerInstance(reg({}));
    expect(await registry.deregisterInstance('web-127.0.0.1-8080')).toBe(true);
    expect(registry.getInstance('web-127.0.0.1-8080')).toBeUndefined();
    expect(registry.listInstances()).toEqual([]);
    expect(await registry.deregisterInstance('web-127.0.0.1-8080')).toBe(false);
    expect(registry.getService('web')).toBeDefined();
  });

  it('writes health only when it changes', async () => {
    await registry.registerInstance(reg({ id: 'a', check: { tcp: true } }));
    await registry.setHealth('a', 'healthy', 'ok');
    const revision = registry.revision();
    expect(registry.getInstance('a')).toMatchObject({ health: 'healthy', healthOutput: 'ok' });
    await registry.setHealth('a', 'healthy', 'still ok');
    expect(registry.revision()).toBe(revision);
    await registry.setHealth('a', 'unhealthy', 'refused');
    expect(registry.getInstance('a')).toMatchObject({ health: 'unhealthy', healthOutput: 'refused' });
    await expect(registry.setHealth('nope', 'healthy')).rejects.toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
  });

  it('setHealth retries when another writer changed the instance meanwhile', async () => {
    await registry.registerInstance(reg({ id: 'a', check: { tcp: true } }));
    const key = '/trellis/instances/web/a';
    const stored = JSON.parse((await store.get(key))!.value);
    await store.put(key, JSON.stringify({ ...stored, tags: ['sneaky'] })); // the view may lag this
    await registry.setHealth('a', 'healthy');
    await eventually(() =>
      expect(registry.getInstance('a')).toMatchObject({ health: 'healthy', tags: ['sneaky'] }),
    );
  });

  it('lists with filters and summarises services', async () => {
    await registry.registerInstance(reg({ id: 'a', tags: ['blue'] }));
    await registry.registerInstance(reg({ id: 'b', tags: ['green'], check: { tcp: true } }));
    await registry.registerInstance(reg({ id: 'c', service: 'api' }));
    await registry.setHealth('b', 'unhealthy');
    expect(registry.listInstances().map((i) => i.id)).toEqual(['c', 'a', 'b']);
    expect(registry.listInstances({ service: 'web', tag: 'blue' }).map((i) => i.id)).toEqual(['a']);
    expect(registry.listInstances({ health: ['unhealthy', 'unknown'] }).map((i) => i.id)).toEqual(['b']);
    expect(registry.listServices().map((s) => [s.name, s.instances])).toEqual([
      ['api', { healthy: 1, degraded: 0, unhealthy: 0, unknown: 0 }],
      ['web', { healthy: 1, degraded: 0, unhealthy: 1, unknown: 0 }],
    ]);
    const snapshot = registry.snapshot();
    expect(snapshot.revision).toBe(registry.revision());
    expect(snapshot.instances).toHaveLength(3);
    expect(snapshot.services.map((s) => s.name).sort()).toEqual(['api', 'web']);
  });

  it('deleteService removes the service, its instances and their heartbeats', async () => {
    await registry.registerInstance(reg({ id: 'a', check: { ttl: '10s' } }));
    await registry.registerInstance(reg({ id: 'b' }));
    await registry.registerInstance(reg({ id: 'c', service: 'api' }));
    await registry.heartbeat('a');
    expect(await store.get('/trellis/heartbeats/web/a')).toBeDefined();
    expect(await registry.deleteService('web')).toBe(true);
    expect(registry.getService('web')).toBeUndefined();
    expect(registry.listInstances().map((i) => i.id)).toEqual(['c']);
    const left = (await store.list('/trellis/')).items.map((kv) => kv.key);
    expect(left.sort()).toEqual(['/trellis/instances/api/c', '/trellis/services/api', '/trellis/store-id']);
    expect(await registry.deleteService('web')).toBe(false);
  });

  it('heartbeat keeps one lease alive and throws for unknown ids', async () => {
    await registry.registerInstance(reg({ id: 't', check: { ttl: '2s' } }));
    await registry.heartbeat('t');
    const first = await store.get('/trellis/heartbeats/web/t');
    expect(first?.lease).toBeDefined();
    await Promise.all([registry.heartbeat('t'), registry.heartbeat('t'), registry.heartbeat('t')]);
    const second = await store.get('/trellis/heartbeats/web/t');
    expect(second?.lease).toBe(first?.lease);
    expect(second?.modRevision).toBe(first?.modRevision);
    await expect(registry.heartbeat('nope')).rejects.toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
  });

  it('heartbeat grants a new lease once the old one is gone', async () => {
    await registry.registerInstance(reg({ id: 't', check: { ttl: '1s' } }));
    await registry.heartbeat('t');
    const first = await store.get('/trellis/heartbeats/web/t');
    await store.revokeLease(first!.lease!);
    await registry.heartbeat('t');
    const second = await store.get('/trellis/heartbeats/web/t');
    expect(second?.lease).toBeDefined();
    expect(second?.lease).not.toBe(first?.lease);
  });

  it('heartbeat on an instance without a TTL check is accepted and ignored', async () => {
    await registry.registerInstance(reg({ id: 'n' }));
    await registry.heartbeat('n');
    expect(await store.get('/trellis/heartbeats/web/n')).toBeUndefined();
  });

  it('deregistering revokes the heartbeat lease', async () => {
    await registry.registerInstance(reg({ id: 't', check: { ttl: '10s' } }));
    await registry.heartbeat('t');
    const { lease } = (await store.get('/trellis/heartbeats/web/t'))!;
    await registry.deregisterInstance('t');
    expect(await store.get('/trellis/heartbeats/web/t')).toBeUndefined();
    await expect(store.keepAlive(lease!)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
  });

  it('notifies subscribers in order and replays from a revision', async () => {
    const live: MeshChange[] = [];
    const subscription = registry.subscribe((change) => live.push(change));
    expect(registry.subscriberCount()).toBe(1);
    await registry.registerInstance(reg({ id: 'a' }));
    const mark = registry.revision();
    await registry.registerInstance(reg({ id: 'b' }));
    await registry.deregisterInstance('a');
    expect(live.map((c) => c.type)).toEqual([
      'service.put',
      'instance.put',
      'instance.put',
      'instance.delete',
    ]);
    const revisions = live.map((c) => c.revision);
    expect([...revisions].sort((x, y) => x - y)).toEqual(revisions);

    const replayed: MeshChange[] = [];
    registry.subscribe((change) => replayed.push(change), mark).close();
    expect(replayed).toEqual(live.slice(2));

    const fromStart: MeshChange[] = [];
    registry.subscribe((change) => fromStart.push(change), 0).close();
    expect(fromStart).toEqual(live);

    subscription.close();
    expect(registry.subscriberCount()).toBe(0);
    await registry.registerInstance(reg({ id: 'c' }));
    expect(live).toHaveLength(4);
  });

  it('a listener that throws does not stop the others', async () => {
    const seen: string[] = [];
    registry.subscribe(() => {
      throw new Error('boom');
    });
    registry.subscribe((change) => seen.push(change.type));
    await registry.registerInstance(reg({}));
    expect(seen).toEqual(['service.put', 'instance.put']);
  });

  it('throws COMPACTED for revisions older than it holds', async () => {
    const small = await createRegistry({ store, logger, historySize: 3 });
    try {
      const start = small.revision();
      for (let port = 1; port <= 5; port++) await small.registerInstance(reg({ port }));
      expect(() => small.subscribe(() => {}, start)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
      const tail: MeshChange[] = [];
      small.subscribe((change) => tail.push(change), small.revision() - 2).close();
      expect(tail.map((c) => c.type)).toEqual(['instance.put', 'instance.put']);
    } finally {
      await small.close();
    }
    // A registry started late holds nothing from before it started.
    expect(() => registry.subscribe(() => {}, 0)).not.toThrow();
    const late = await createRegistry({ store, logger });
    try {
      expect(() => late.subscribe(() => {}, 1)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
      expect(late.listInstances()).toHaveLength(5);
    } finally {
      await late.close();
    }
  });

  it('sees the writes of another registry on the same store', async () => {
    const other = await createRegistry({ store, logger });
    try {
      await other.registerInstance(reg({ id: 'remote' }));
      await eventually(() => expect(registry.getInstance('remote')).toBeDefined());
      await registry.deregisterInstance('remote');
      await eventually(() => expect(other.getInstance('remote')).toBeUndefined());
    } finally {
      await other.close();
    }
  });

  it('lists again after a broken watch and emits the difference', async () => {
    const flaky = new FlakyStore(store);
    const watched = await createRegistry({ store: flaky, logger });
    try {
      await watched.registerInstance(reg({ id: 'gone' }));
      await watched.registerInstance(reg({ id: 'kept' }));
      const changes: MeshChange[] = [];
      watched.subscribe((change) => changes.push(change));

      flaky.paused = true;
      await registry.deregisterInstance('gone').catch(() => {});
      await store.delete('/trellis/instances/web/gone');
      await registry.registerInstance(reg({ id: 'new', service: 'api' }));
      expect(watched.getInstance('new')).toBeUndefined();

      flaky.paused = false;
      flaky.fail(new MeshError('COMPACTED', 'compacted'));
      await eventually(() => expect(watched.getInstance('new')).toBeDefined());
      expect(watched.getInstance('gone')).toBeUndefined();
      expect(watched.getInstance('kept')).toBeDefined();
      expect(changes.map((c) => c.type).sort()).toEqual(['instance.delete', 'instance.put', 'service.put']);
      expect(new Set(changes.map((c) => c.revision)).size).toBe(1);

      // And it keeps watching afterwards.
      await registry.registerInstance(reg({ id: 'after' }));
      await eventually(() => expect(watched.getInstance('after')).toBeDefined());
      expect(flaky.watches).toBe(2);
    } finally {
      await watched.close();
    }
  });
});

/** A real store whose watches can be held back and then broken, to exercise the registry's recovery. */
class FlakyStore implements Store {
  readonly kind = 'flaky';
  paused = false;
  watches = 0;
  /** Open watches: the registry's handlers, by the handlers given to the inner store. */
  private readonly open = new Map<WatchHandlers, WatchHandlers>();

  constructor(private readonly inner: Store) {}

  get = (key: string) => this.inner.get(key);
  list = (prefix: string) => this.inner.list(prefix);
  put: Store['put'] = (key, value, options) => this.inner.put(key, value, options);
  delete: Store['delete'] = (key, options) => this.inner.delete(key, options);
  grantLease = (ttl: number) => this.inner.grantLease(ttl);
  keepAlive = (lease: string) => this.inner.keepAlive(lease);
  revokeLease = (lease: string) => this.inner.revokeLease(lease);
  revision = () => this.inner.revision();
  isHealthy = () => this.inner.isHealthy();
  close = () => this.inner.close();

  async watch(prefix: string, handlers: WatchHandlers, options?: WatchOptions): Promise<Watch> {
    this.watches++;
    const own: WatchHandlers = {
      onEvents: (events) => {
        if (!this.paused && this.open.has(own)) handlers.onEvents(events);
      },
      onError: (error) => handlers.onError?.(error),
    };
    this.open.set(own, handlers);
    const inner = await this.inner.watch(prefix, own, options);
    return {
      close: async () => {
        this.open.delete(own);
        await inner.close();
      },
    };
  }

  /** Ends every open watch with `error`. */
  fail(error: Error): void {
    const ended = [...this.open.values()];
    this.open.clear();
    for (const handlers of ended) handlers.onError?.(error);
  }
}
