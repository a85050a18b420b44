/**
 * Two control planes on one etcd share one mesh: a write on one is visible on the other, exactly
 * one runs health checks, and when it goes away the other takes over.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, startTestControl, type TestControl } from '../helpers/control.ts';
import { type EtcdProcess, startEtcd } from '../helpers/etcd.ts';

describe('control plane: two nodes on etcd', () => {
  let etcd: EtcdProcess;
  let a: TestControl;
  let b: TestControl;
  let app: Server;
  let appPort: number;
  let appHealthy = true;
  const closed = new Set<TestControl>();

  beforeAll(async () => {
    etcd = await startEtcd();
    const store = `etcd://${etcd.endpoints[0]}`;
    a = await startTestControl({ control: { store } }, { nodeId: 'node-a' });
    b = await startTestControl({ control: { store } }, { nodeId: 'node-b' });
    app = createServer((_req, res) => {
      res.statusCode = appHealthy ? 200 : 500;
      res.end();
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appPort = (app.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const node of [a, b]) if (node && !closed.has(node)) await node.close();
    await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
    await etcd?.stop();
  });

  it('shows a registration made on one node on the other', async () => {
    const registered = await call(a.url, 'POST', '/api/v1/instances', {
      id: 'shared-1',
      service: 'shared',
      address: '127.0.0.1',
      port: 9300,
    });
    expect(registered.status).toBe(201);
    const seen = await eventually(async () => {
      const res = await call(b.url, 'GET', '/api/v1/services/shared/instances');
      return res.status === 200 && res.body.instances.some((i: { id: string }) => i.id === 'shared-1')
        ? res
        : false;
    }, 2000);
    expect(seen.body.instances[0]).toMatchObject({ id: 'shared-1', service: 'shared', port: 9300 });
    const seed = await call(b.url, 'GET', '/api/v1/mesh/v2/discover/shared');
    expect(seed.body.count).toBe(1);
    expect((await call(b.url, 'GET', '/api/v1/health')).body.store).toEqual({
      kind: 'etcd',
      connected: true,
    });
  });

  it('elects exactly one health-check leader, and fails over when it leaves', async () => {
    const leaders = async () => {
      const answers = await Promise.all([a, b].map((node) => call(node.url, 'GET', '/api/v1/health')));
      return answers.map((answer) => answer.body.leader as boolean);
    };
    await eventually(async () => (await leaders()).filter(Boolean).length === 1, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [aLeads, bLeads] = await leaders();
    expect([aLeads, bLeads].filter(Boolean)).toHaveLength(1);
    const leader = aLeads ? a : b;
    const follower = aLeads ? b : a;

    const checked = await call(leader.url, 'POST', '/api/v1/instances', {
      id: 'checked-1',
      service: 'checked',
      address: '127.0.0.1',
      port: appPort,
      check: { http: '/health', interval: '200ms', timeout: '500ms', failuresBeforeUnhealthy: 1 },
    });
    expect(checked.status).toBe(201);
    const health = async (node: TestControl) =>
      (await call(node.url, 'GET', '/api/v1/instances/checked-1')).body.health as string;
    await eventually(async () => (await health(follower)) === 'healthy', 10_000);

    // The leader dies: its lease is not revoked, so the follower takes over once it expires.
    const leftAt = Date.now();
    await leader.checker.stop({ revoke: false });
    await leader.close();
    closed.add(leader);
    await eventually(
      async () => (await call(follower.url, 'GET', '/api/v1/health')).body.leader === true,
      10_000,
    );
    const failoverMs = Date.now() - leftAt;
    expect(failoverMs).toBeLessThan(10_000);

    appHealthy = false;
    await eventually(async () => (await health(follower)) === 'unhealthy', 10_000);
    const seedHealth = await call(follower.url, 'GET', '/api/v1/mesh/v2/health');
    expect(seedHealth.body.services.checked).toMatchObject({ healthy: 0, total: 1 });
  });
});
