import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceRegistration, validate } from '../../src/config/index.ts';
import {
  createHealthChecker,
  createRegistry,
  type HealthChecker,
  type Registry,
} from '../../src/registry/index.ts';
import { EtcdStore } from '../../src/store/index.ts';
import { type EtcdProcess, startEtcd } from '../helpers/etcd.ts';

const logger = pino({ level: 'silent' });

async function eventually(assertion: () => void | Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One control-plane node's worth of registry parts: its own etcd connection, registry and checker. */
interface Node {
  store: EtcdStore;
  registry: Registry;
  checker: HealthChecker;
}

describe('registry on etcd', () => {
  let etcd: EtcdProcess;
  let status = 200;
  let hits = 0;
  let server: Server;
  let url: string;
  const nodes: Node[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
  });

  afterAll(async () => {
    for (const node of nodes) {
      await node.checker.stop().catch(() => {});
      await node.registry.close().catch(() => {});
      await node.store.close().catch(() => {});
    }
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await etcd?.stop();
  });

  /** Nodes of one test share a store prefix, as control planes of one mesh share an etcd. */
  async function startNode(prefix: string, nodeId: string): Promise<Node> {
    const store = await EtcdStore.connect({ endpoints: etcd.endpoints, prefix, logger });
    const registry = await createRegistry({ store, logger });
    const checker = createHealthChecker({ registry, store, logger, nodeId });
    const node = { store, registry, checker };
    nodes.push(node);
    return node;
  }

  const registration = (id: string, check?: Record<string, unknown>) =>
    validate(instanceRegistration, { id, service: 'web', address: '127.0.0.1', port: 9000, check });

  it('a write on one registry shows on the other', async () => {
    const prefix = `t-${randomUUID()}/`;
    const a = await startNode(prefix, 'a');
    const b = await startNode(prefix, 'b');

    const written = await a.registry.registerInstance(registration('one'));
    expect(a.registry.getInstance('one')).toEqual(written); // read-your-writes on the writer
    await eventually(() => expect(b.registry.getInstance('one')).toEqual(written));
    expect(b.registry.getService('web')).toBeDefined();

    // A heartbeat sent to the other node works too.
    await a.registry.registerInstance(registration('ttl', { ttl: '2s' }));
    await eventually(() => expect(b.registry.getInstance('ttl')).toBeDefined());
    await b.registry.heartbeat('ttl');
    await b.registry.heartbeat('ttl');
    await eventually(async () => expect(await a.store.get('/trellis/heartbeats/web/ttl')).toBeDefined());

    expect(await b.registry.deleteService('web')).toBe(true);
    await eventually(() => {
      expect(a.registry.listInstances()).toEqual([]);
      expect(a.registry.getService('web')).toBeUndefined();
    });
  });

  it('nodes on one etcd share one store id, kept across reconnects; a fresh etcd gets another', async () => {
    const prefix = `t-${randomUUID()}/`;
    // Both create it at once: the put-if-absent lets one win and the other read its id.
    const [a, b] = await Promise.all([startNode(prefix, 'a'), startNode(prefix, 'b')]);
    const id = a.registry.storeId();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.registry.storeId()).toBe(id);
    expect(b.registry.snapshot().storeId).toBe(id);
    expect((await a.store.get('/trellis/store-id'))?.value).toBe(id);
    await a.registry.close();
    await a.store.close();
    expect((await startNode(prefix, 'a-again')).registry.storeId()).toBe(id);

    const fresh = await startEtcd();
    try {
      const store = await EtcdStore.connect({ endpoints: fresh.endpoints, prefix, logger });
      const registry = await createRegistry({ store, logger });
      expect(registry.storeId()).not.toBe(id);
      await registry.close();
      await store.close();
    } finally {
      await fresh.stop();
    }
  });

  it('one health checker leads; when it dies another takes over and keeps checking', async () => {
    const prefix = `t-${randomUUID()}/`;
    const a = await startNode(prefix, 'a');
    const b = await startNode(prefix, 'b');
    await a.checker.start();
    await b.checker.start();
    const leaders = () => [a, b].filter((node) => node.checker.isLeader());
    await eventually(() => expect(leaders()).toHaveLength(1));
    for (let i = 0; i < 10; i++) {
      expect(leaders()).toHaveLength(1);
      await sleep(50);
    }

    status = 200;
    await a.registry.registerInstance(
      registration('checked', { http: url, interval: '200ms', failuresBeforeUnhealthy: 1 }),
    );
    await eventually(() => expect(a.registry.getInstance('checked')?.health).toBe('healthy'));

    // The leader dies: its lease is left to expire (ttl 3 s), nobody revokes it.
    const [leader] = leaders();
    const follower = leader === a ? b : a;
    const died = Date.now();
    await leader!.checker.stop({ revoke: false });
    expect(leader!.checker.isLeader()).toBe(false);
    await eventually(() => expect(follower.checker.isLeader()).toBe(true), 10_000);
    expect(Date.now() - died).toBeLessThan(10_000);

    // The new leader checks: a failing instance turns unhealthy, seen from both registries.
    const before = hits;
    status = 500;
    await eventually(() => expect(follower.registry.getInstance('checked')?.health).toBe('unhealthy'));
    await eventually(() => expect(leader!.registry.getInstance('checked')?.health).toBe('unhealthy'));
    expect(hits).toBeGreaterThan(before);

    // A graceful stop revokes the lease, so the restarted node takes over at once.
    await leader!.checker.start();
    expect(leader!.checker.isLeader()).toBe(false);
    await follower.checker.stop();
    await eventually(() => expect(leader!.checker.isLeader()).toBe(true), 2000);
    status = 200;
    await eventually(() => expect(leader!.registry.getInstance('checked')?.health).toBe('healthy'));
  });
});
