/** The call loop against real local servers, with policies set directly on the cluster. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../src/config/index.ts';
import { type Instance, type ServicePolicy, systemClock } from '../../../src/core/index.ts';
import { SdkCluster } from '../../../src/sdk/cluster.ts';
import { exchange } from '../../../src/sdk/exchange.ts';
import { createMeshRequest } from '../../../src/sdk/request.ts';
import type { MeshFetchInit } from '../../../src/sdk/types.ts';

const logger = pino({ level: 'silent' });
const deps = { clock: systemClock, random: Math.random, logger };

interface TestServer {
  name: string;
  port: number;
  hits: number;
  server: Server;
}

type Handler = (req: IncomingMessage, res: ServerResponse, server: TestServer) => void;

const servers: TestServer[] = [];
const clusters: SdkCluster[] = [];

async function serve(name: string, handler: Handler): Promise<TestServer> {
  const entry = { name, port: 0, hits: 0 } as TestServer;
  entry.server = createServer((req, res) => {
    entry.hits++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, entry));
  });
  await new Promise<void>((resolve) => entry.server.listen(0, '127.0.0.1', resolve));
  entry.port = (entry.server.address() as AddressInfo).port;
  servers.push(entry);
  return entry;
}

const named: Handler = (_req, res, server) => res.end(server.name);

function cluster(targets: TestServer[], change: (policy: ServicePolicy) => void = () => {}): SdkCluster {
  const policy = defaultPolicy('svc');
  change(policy);
  const created = new SdkCluster('svc', policy, { clock: systemClock, logger });
  created.setInstances(
    targets.map(
      (target): Instance => ({
        id: target.name,
        service: 'svc',
        address: '127.0.0.1',
        port: target.port,
        tags: [],
        metadata: {},
        weight: 100,
        health: 'healthy',
        registeredAt: 0,
        healthChangedAt: 0,
      }),
    ),
  );
  clusters.push(created);
  return created;
}

function call(target: SdkCluster, path = '/', init?: MeshFetchInit) {
  return exchange(target, createMeshRequest('svc', path, init), deps);
}

describe('exchange', () => {
  afterEach(async () => {
    for (const created of clusters.splice(0)) await created.close(100);
  });
  afterAll(async () => {
    for (const entry of servers) {
      entry.server.closeAllConnections();
      await new Promise((resolve) => entry.server.close(resolve));
    }
  });

  it('round-robin visits every instance in turn', async () => {
    const targets = [await serve('a', named), await serve('b', named), await serve('c', named)];
    const rr = cluster(targets, (p) => {
      p.loadBalancer.kind = 'round-robin';
    });
    const order: string[] = [];
    for (let i = 0; i < 30; i++) order.push(await (await call(rr)).text());
    expect(targets.map((target) => target.hits)).toEqual([10, 10, 10]);
    // Strictly in turn: every window of three names each instance once.
    for (let i = 0; i + 3 <= order.length; i++) expect(new Set(order.slice(i, i + 3)).size).toBe(3);
  });

  it('answers OVERFLOW when in-flight and pending are full, and queues within maxPending', async () => {
    const held: ServerResponse[] = [];
    const target = await serve('held', (_req, res) => held.push(res));
    const limited = cluster([target], (p) => {
      p.concurrency = { maxInFlight: 1, maxPending: 1 };
    });
    const first = call(limited);
    const second = call(limited);
    await expect(call(limited)).rejects.toMatchObject({ code: 'OVERFLOW', status: 503 });
    while (held.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(target.hits).toBe(1);

    held[0].end('one');
    const firstResponse = await first;
    // The slot is held until the body is read; then the queued call starts.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.hits).toBe(1);
    expect(await firstResponse.text()).toBe('one');
    while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    held[1].end('two');
    expect(await (await second).text()).toBe('two');
    expect(limited.limiter.inFlight).toBe(0);
  });

  it('a queued call gives up at its deadline', async () => {
    const held: ServerResponse[] = [];
    const target = await serve('held-2', (_req, res) => held.push(res));
    const limited = cluster([target], (p) => {
      p.concurrency = { maxInFlight: 1, maxPending: 4 };
    });
    const first = call(limited, '/', { timeout: 2_000 });
    await expect(call(limited, '/', { timeout: 100 })).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(limited.limiter.pending).toBe(0);
    while (held.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    held[0].end('done');
    expect(await (await first).text()).toBe('done');
  });

  it('a per-try timeout moves the call to another instance', async () => {
    const hanging = await serve('hanging', () => {});
    const quick = await serve('quick', named);
    const target = cluster([hanging, quick], (p) => {
      p.loadBalancer.kind = 'round-robin';
      p.retry.perTryTimeoutMs = 150;
      p.outlierDetection.enabled = false;
      p.circuitBreaker.enabled = false;
    });
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      expect(await (await call(target)).text()).toBe('quick');
      expect(Date.now() - started).toBeLessThan(1_500);
    }
    // Round-robin's cursor lands on the hanging one for most calls; each time the retry moves on.
    expect(hanging.hits).toBeGreaterThanOrEqual(3);
    expect(quick.hits).toBe(4);
  });

  it('does not retry once the retry budget is spent', async () => {
    const unavailable = await serve('unavailable', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const noBudget = cluster([unavailable], (p) => {
      p.retry.budget = { ratio: 0, minPerSecond: 0 };
    });
    expect((await call(noBudget)).status).toBe(503);
    expect(unavailable.hits).toBe(1);

    const withBudget = cluster([unavailable], (p) => {
      p.retry.maxAttempts = 3;
      p.retry.backoffBaseMs = 1;
      p.circuitBreaker.enabled = false;
    });
    expect((await call(withBudget)).status).toBe(503);
    expect(unavailable.hits).toBe(4);
  });

  it('retries a non-idempotent call only when its body fits the buffer limit', async () => {
    const unavailable = await serve('unavailable-2', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const small = cluster([unavailable], (p) => {
      p.retry.maxBufferedBodyBytes = 4;
      p.circuitBreaker.enabled = false;
    });
    await (await call(small, '/', { method: 'POST', body: 'abcd' })).text();
    expect(unavailable.hits).toBe(2);
    await (await call(small, '/', { method: 'POST', body: 'abcde' })).text();
    expect(unavailable.hits).toBe(3);
    // An idempotent method with the same body is retried whatever its size.
    await (await call(small, '/', { method: 'PUT', body: 'abcde' })).text();
    expect(unavailable.hits).toBe(5);
  });

  it('retries the listed status codes', async () => {
    let hits = 0;
    const limited = await serve('rate-limited', (_req, res) => {
      hits++;
      res.statusCode = hits === 1 ? 429 : 200;
      res.end(String(hits));
    });
    const target = cluster([limited], (p) => {
      p.retry.retryOn = ['retriable-status-codes'];
      p.retry.retriableStatusCodes = [429];
    });
    const response = await call(target);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('2');
  });

  it('ip-hash keeps a key on one instance, read from the policy header or the call', async () => {
    const targets = [await serve('h1', named), await serve('h2', named), await serve('h3', named)];
    const hashed = cluster(targets, (p) => {
      p.loadBalancer = { kind: 'ip-hash', hashHeader: 'X-User' };
    });
    const owners = new Map<string, Set<string>>();
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 20; user++) {
        const name = await (await call(hashed, '/', { headers: { 'x-user': `user-${user}` } })).text();
        const set = owners.get(`user-${user}`) ?? new Set<string>();
        set.add(name);
        owners.set(`user-${user}`, set);
      }
    }
    for (const set of owners.values()) expect(set.size).toBe(1);
    expect(new Set([...owners.values()].map((set) => [...set][0])).size).toBeGreaterThan(1);

    const byKey = cluster(targets, (p) => {
      p.loadBalancer = { kind: 'ip-hash' };
    });
    const names = new Set<string>();
    for (let i = 0; i < 10; i++) names.add(await (await call(byKey, '/', { hashKey: 'same' })).text());
    expect(names.size).toBe(1);
  });

  it('reports a reset as UPSTREAM_RESET and a bad status line as BAD_GATEWAY', async () => {
    const resetting = await serve('resetting', (req) => req.socket.destroy());
    await expect(call(cluster([resetting]))).rejects.toMatchObject({ code: 'UPSTREAM_RESET' });
    expect(resetting.hits).toBe(2);

    const garbage = await serve('garbage', (req) => {
      req.socket.end('NOT HTTP AT ALL\r\n\r\n');
    });
    await expect(call(cluster([garbage]))).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
    expect(garbage.hits).toBe(1);
  });
});
