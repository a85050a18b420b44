import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instanceRegistration, validate } from '../../src/config/index.ts';
import type { HealthState, MeshChange } from '../../src/core/index.ts';
import {
  createHealthChecker,
  createLeaderElection,
  createRegistry,
  type HealthChecker,
  type Registry,
} from '../../src/registry/index.ts';
import { MemoryStore } from '../../src/store/index.ts';
import { freePort } from '../helpers/ports.ts';

const logger = pino({ level: 'silent' });

interface TestServer {
  port: number;
  url: string;
  /** Requests per path, with the time of the first. */
  hits: Map<string, { count: number; first: number }>;
  maxConcurrent: number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1; `respond` picks the status (and an optional delay) per path. */
async function startServer(
  respond: (path: string) => { status: number; delayMs?: number },
): Promise<TestServer> {
  let active = 0;
  const state: Omit<TestServer, 'port' | 'url' | 'close'> = { hits: new Map(), maxConcurrent: 0 };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const hit = state.hits.get(path) ?? { count: 0, first: Date.now() };
    hit.count++;
    state.hits.set(path, hit);
    active++;
    state.maxConcurrent = Math.max(state.maxConcurrent, active);
    const { status, delayMs = 0 } = respond(path);
    const timer = setTimeout(() => res.writeHead(status).end('body'), delayMs);
    res.on('close', () => {
      clearTimeout(timer);
      active--;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(state, {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

async function eventually(assertion: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('health checker', () => {
  let store: MemoryStore;
  let registry: Registry;
  let checker: HealthChecker;
  const cleanup: Array<() => Promise<void>> = [];

  const register = (id: string, check: Record<string, unknown>, port = 1) =>
    registry.registerInstance(
      validate(instanceRegistration, {
        id,
        service: 'web',
        address: '127.0.0.1',
        port,
        check: { interval: '200ms', timeout: '500ms', failuresBeforeUnhealthy: 1, ...check },
      }),
    );
  const health = (id: string): HealthState | undefined => registry.getInstance(id)?.health;

  beforeEach(async () => {
    store = await MemoryStore.open({});
    registry = await createRegistry({ store, logger });
    checker = createHealthChecker({ registry, store, logger, nodeId: 'node-1' });
  });

  afterEach(async () => {
    await checker.stop();
    for (const step of cleanup.splice(0).reverse()) await step();
    await registry.close();
    await store.close();
  });

  async function server(
    respond: (path: string) => { status: number; delayMs?: number },
  ): Promise<TestServer> {
    const started = await startServer(respond);
    cleanup.push(() => started.close());
    return started;
  }

  it('is the leader when it runs alone', async () => {
    expect(checker.isLeader()).toBe(false);
    await checker.start();
    expect(checker.isLeader()).toBe(true);
  });

  it('2xx makes an instance healthy, soon after it registers', async () => {
    const up = await server(() => ({ status: 200 }));
    await checker.start();
    // A long interval: only the quick first check of a new instance can make this pass in time.
    await register('a', { http: `${up.url}/health`, interval: '30s' });
    expect(health('a')).toBe('unknown');
    await eventually(() => expect(health('a')).toBe('healthy'), 3000);
    expect(registry.getInstance('a')?.healthOutput).toMatch(/200/);
  });

  it('429 makes an instance degraded', async () => {
    const busy = await server(() => ({ status: 429 }));
    await checker.start();
    await register('a', { http: `${busy.url}/health` });
    await eventually(() => expect(health('a')).toBe('degraded'));
  });

  it('500 makes an instance unhealthy only after failuresBeforeUnhealthy failures', async () => {
    const broken = await server(() => ({ status: 500 }));
    await checker.start();
    await register('a', { http: `${broken.url}/health`, failuresBeforeUnhealthy: 3 });
    const seen: Array<{ health: HealthState; hits: number }> = [];
    registry.subscribe((change: MeshChange) => {
      if (change.type === 'instance.put') {
        seen.push({ health: change.instance.health, hits: broken.hits.get('/health')?.count ?? 0 });
      }
    });
    await eventually(() => expect(health('a')).toBe('unhealthy'));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.hits).toBeGreaterThanOrEqual(3);
  });

  it('a response slower than the timeout is a failure', async () => {
    const slow = await server(() => ({ status: 200, delayMs: 2000 }));
    await checker.start();
    await register('a', { http: `${slow.url}/health`, timeout: '100ms' });
    await eventually(() => expect(health('a')).toBe('unhealthy'));
    expect(registry.getInstance('a')?.healthOutput).toMatch(/timed out/);
  });

  it('skips a check while the previous one is still running', async () => {
    const slow = await server(() => ({ status: 200, delayMs: 700 }));
    await checker.start();
    await register('a', { http: `${slow.url}/health`, timeout: '2s' });
    await sleep(1600);
    expect(slow.maxConcurrent).toBe(1);
    expect(slow.hits.get('/health')!.count).toBeLessThanOrEqual(3);
    expect(health('a')).toBe('healthy');
  });

  it('TCP: a listening port is healthy, a closed one unhealthy', async () => {
    const listener = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => listener.close(() => resolve())));
    const open = (listener.address() as { port: number }).port;
    const closed = await freePort();
    await checker.start();
    await register('open', { tcp: true }, open);
    await register('closed', { tcp: `127.0.0.1:${closed}` });
    await eventually(() => {
      expect(health('open')).toBe('healthy');
      expect(health('closed')).toBe('unhealthy');
    });
    expect(registry.getInstance('closed')?.healthOutput).toMatch(/ECONNREFUSED/);
  });

  it('TTL: heartbeats keep an instance healthy; without them it turns unhealthy', async () => {
    await checker.start();
    await register('t', { ttl: '1s' });
    await sleep(500);
    expect(health('t')).toBe('unhealthy'); // no heartbeat yet

    let beating = true;
    const beats = (async () => {
      while (beating) {
        await registry.heartbeat('t');
        await sleep(250);
      }
    })();
    await eventually(() => expect(health('t')).toBe('healthy'));
    const flips: HealthState[] = [];
    const subscription = registry.subscribe((change) => {
      if (change.type === 'instance.put') flips.push(change.instance.health);
    });
    await sleep(2000);
    expect(flips).toEqual([]); // stayed healthy throughout
    subscription.close();

    beating = false;
    await beats;
    await eventually(() => expect(health('t')).toBe('unhealthy'));
  });

  it('deregisters an instance unhealthy for longer than deregisterAfter', async () => {
    const broken = await server(() => ({ status: 503 }));
    await checker.start();
    await register('a', { http: `${broken.url}/health`, deregisterAfter: '500ms' });
    await register('b', { http: `${broken.url}/health` });
    await eventually(() => expect(health('a')).toBe('unhealthy'));
    await eventually(() => expect(registry.getInstance('a')).toBeUndefined());
    expect(health('b')).toBe('unhealthy'); // deregisterAfter 0: kept
  });

  it('follows check changes and stops checking deregistered instances', async () => {
    const web = await server((path) => ({ status: path === '/ok' ? 200 : 500 }));
    await checker.start();
    await register('a', { http: `${web.url}/bad` });
    await eventually(() => expect(health('a')).toBe('unhealthy'));
    await register('a', { http: `${web.url}/ok` });
    await eventually(() => expect(health('a')).toBe('healthy'));
    await registry.deregisterInstance('a');
    await sleep(100);
    const count = web.hits.get('/ok')!.count;
    await sleep(600);
    expect(web.hits.get('/ok')!.count).toBe(count);
  });

  it('spreads the first checks of existing instances over the interval', async () => {
    const web = await server(() => ({ status: 200 }));
    const count = 40;
    for (let i = 0; i < count; i++)
      await register(`spread-${i}`, { http: `${web.url}/h/${i}`, interval: '2s' });
    const started = Date.now();
    await checker.start();
    await eventually(() => expect(web.hits.size).toBe(count), 6000);
    const firsts = [...web.hits.values()].map((hit) => hit.first - started).sort((a, b) => a - b);
    // Not all at once: spread over most of the 2 s interval, with no burst.
    expect(firsts.at(-1)! - firsts[0]!).toBeGreaterThan(1000);
    const perQuarter = [0, 1, 2, 3].map(
      (q) => firsts.filter((t) => t >= q * 500 && t < (q + 1) * 500).length,
    );
    expect(Math.max(...perQuarter)).toBeLessThan(count * 0.6);
  });
});

describe('leader election on the memory store', () => {
  it('elects one leader, hands over at once on stop and after the lease expires on death', async () => {
    const store = await MemoryStore.open({});
    const key = '/trellis/leader/test';
    const elections = ['a', 'b', 'c'].map((nodeId) =>
      createLeaderElection({ store, key, nodeId, ttlSeconds: 1, logger }),
    );
    const changes: Array<[string, boolean]> = [];
    for (const election of elections) election.onChange((leader) => changes.push([election.nodeId, leader]));
    try {
      for (const election of elections) await election.start();
      const leaders = () => elections.filter((election) => election.isLeader());
      expect(leaders()).toHaveLength(1);
      const first = leaders()[0]!;
      expect((await store.get(key))?.value).toBe(first.nodeId);
      await sleep(1500); // longer than the TTL: renewal keeps the lease
      expect(leaders()).toEqual([first]);

      await first.stop();
      await eventually(() => expect(leaders()).toHaveLength(1), 1000);
      const second = leaders()[0]!;
      expect(second).not.toBe(first);

      await second.stop({ revoke: false });
      expect(second.isLeader()).toBe(false);
      await eventually(() => expect(leaders()).toHaveLength(1), 5000);
      const third = leaders()[0]!;
      expect([first, second]).not.toContain(third);
      expect(changes).toEqual([
        [first.nodeId, true],
        [first.nodeId, false],
        [second.nodeId, true],
        [second.nodeId, false],
        [third.nodeId, true],
      ]);
    } finally {
      for (const election of elections) await election.stop();
      await store.close();
    }
  });

  it('steps down when its lease is lost, then campaigns again', async () => {
    const store = await MemoryStore.open({});
    const election = createLeaderElection({ store, key: '/l', nodeId: 'a', ttlSeconds: 1, logger });
    const changes: boolean[] = [];
    election.onChange((leader) => changes.push(leader));
    try {
      await election.start();
      expect(election.isLeader()).toBe(true);
      const lost = (await store.get('/l'))!.lease!;
      await store.revokeLease(lost);
      // The key is free again, so it steps down and wins it back with a new lease.
      await eventually(() => expect(changes).toEqual([true, false, true]), 5000);
      expect(election.isLeader()).toBe(true);
      expect((await store.get('/l'))?.lease).not.toBe(lost);
    } finally {
      await election.stop();
      await store.close();
    }
  });
});
