import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BALANCER_KINDS, type BalancerKind, type ServicePolicy } from '../../src/core/index.ts';
import type { ProxyListener, StaticSource, TrellisProxy } from '../../src/proxy/index.ts';
import { freePort } from '../helpers/ports.ts';
import {
  closeAll,
  plainPolicy as plain,
  retryPolicy as retry,
  serviceRoute as route,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import {
  echo,
  instance,
  parseResponses,
  policy,
  rawExchange,
  request,
  sleep,
  startRawServer,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

async function names(
  port: number,
  path: string,
  n: number,
  headers: (i: number) => Record<string, string> = () => ({}),
) {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const response = await request(port, 'GET', path, { headers: headers(i) });
    const key =
      response.status === 200
        ? (response.headers['x-upstream'] ?? '?')
        : `${response.status} ${response.headers['x-trellis-error']}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('proxy resilience', () => {
  const upstreams: Upstream[] = [];
  let u: Upstream[];
  let failing: Upstream;
  let slow: Upstream;
  let resetting: Awaited<ReturnType<typeof startRawServer>>;
  let resetHeads = 0;
  let deadPort: number;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let source: StaticSource;

  beforeAll(async () => {
    u = [];
    for (let i = 0; i < 3; i++) u.push(await startUpstream(echo(`u${i}`)));
    failing = await startUpstream((_req, res) => {
      res.statusCode = 500;
      res.setHeader('x-upstream', 'failing');
      res.end('boom');
    });
    slow = await startUpstream((req, res) => {
      const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => echo('slow')(req, res), delay);
    });
    upstreams.push(...u, failing, slow);
    // Reads a request head, then drops the connection without answering.
    resetting = await startRawServer((socket) => {
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          resetHeads++;
          head = '';
          socket.destroy();
        }
      });
    });
    deadPort = await freePort();

    const balancerServices = BALANCER_KINDS.map((kind) => `lb-${kind}`);
    const instances = [
      ...balancerServices.flatMap((service) => u.map((up) => instance(service, up.port))),
      instance('breaker', failing.port),
      instance('outlier', u[0].port),
      instance('outlier', failing.port),
      instance('retry', deadPort),
      instance('retry', u[1].port),
      instance('budget', deadPort),
      instance('budget', u[1].port),
      instance('reset', resetting.port),
      instance('deadline', slow.port),
      instance('caller-deadline', slow.port),
      instance('pertry', slow.port, { id: 'pertry-slow' }),
      instance('pertry', u[2].port, { id: 'pertry-fast' }),
      instance('idle', slow.port),
      instance('overflow', slow.port),
      instance('queue', slow.port),
    ];
    const policies: ServicePolicy[] = [
      ...BALANCER_KINDS.map((kind) =>
        plain(`lb-${kind}`, {
          loadBalancer: { kind: kind as BalancerKind, hashHeader: kind === 'ip-hash' ? 'x-user' : undefined },
        }),
      ),
      plain('breaker', {
        circuitBreaker: {
          ...policy('breaker').circuitBreaker,
          enabled: true,
          consecutiveFailures: 5,
          recoveryTimeMs: 60_000,
        },
      }),
      plain('outlier', {
        outlierDetection: {
          enabled: true,
          consecutiveErrors: 3,
          baseEjectionTimeMs: 400,
          maxEjectionTimeMs: 400,
          maxEjectionPercent: 50,
        },
      }),
      plain('retry', { retry: retry('retry', { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 5 }) }),
      plain('budget', {
        retry: retry('budget', {
          maxAttempts: 3,
          backoffBaseMs: 1,
          backoffMaxMs: 5,
          budget: { ratio: 0, minPerSecond: 0 },
        }),
      }),
      plain('reset', { retry: retry('reset', { maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 }) }),
      plain('deadline', {
        timeout: { requestMs: 300, idleMs: 0 },
        retry: retry('deadline', { maxAttempts: 3 }),
      }),
      plain('caller-deadline', {
        timeout: { requestMs: 5_000, idleMs: 0 },
        circuitBreaker: {
          ...policy('caller-deadline').circuitBreaker,
          enabled: true,
          consecutiveFailures: 3,
        },
        outlierDetection: {
          enabled: true,
          consecutiveErrors: 3,
          baseEjectionTimeMs: 60_000,
          maxEjectionTimeMs: 60_000,
          maxEjectionPercent: 100,
        },
      }),
      plain('pertry', {
        timeout: { requestMs: 5_000, idleMs: 0 },
        retry: retry('pertry', { maxAttempts: 2, perTryTimeoutMs: 150, backoffBaseMs: 1, backoffMaxMs: 2 }),
      }),
      plain('idle', { timeout: { requestMs: 10_000, idleMs: 150 } }),
      plain('overflow', { concurrency: { maxInFlight: 1, maxPending: 0 } }),
      plain('queue', { concurrency: { maxInFlight: 1, maxPending: 4 } }),
    ];
    const services = [...new Set(instances.map((i) => i.service))];
    ({ proxy, source, gateway } = await startTestGateway({
      instances,
      policies,
      routes: services.map(route),
    }));
  });

  afterAll(() => closeAll(proxy, ...upstreams, resetting));

  it('round-robin spreads evenly over three upstreams', async () => {
    expect(await names(gateway.port, '/lb-round-robin/x', 30)).toEqual({ u0: 10, u1: 10, u2: 10 });
  });

  it.each(BALANCER_KINDS.filter((k) => k !== 'ip-hash' && k !== 'round-robin'))(
    '%s reaches every upstream',
    async (kind) => {
      const counts = await names(gateway.port, `/lb-${kind}/x`, 60);
      expect(Object.keys(counts).sort()).toEqual(['u0', 'u1', 'u2']);
    },
  );

  it('ip-hash keeps a key on one upstream and spreads keys', async () => {
    const sticky = await names(gateway.port, '/lb-ip-hash/x', 10, () => ({ 'x-user': 'alice' }));
    expect(Object.values(sticky)).toEqual([10]);
    const spread = await names(gateway.port, '/lb-ip-hash/x', 40, (i) => ({ 'x-user': `user-${i}` }));
    expect(Object.keys(spread).length).toBeGreaterThan(1);
  });

  it('opens the circuit after 5 consecutive failures (CIRCUIT_OPEN)', async () => {
    const before = failing.requests;
    const counts = await names(gateway.port, '/breaker/x', 8);
    expect(counts).toEqual({ '500 undefined': 5, '503 CIRCUIT_OPEN': 3 });
    expect(failing.requests - before).toBe(5);
    const open = await request(gateway.port, 'GET', '/breaker/x');
    expect(JSON.parse(open.body).error.code).toBe('CIRCUIT_OPEN');
  });

  it('ejects an outlier and lets it back after the ejection time', async () => {
    const first = await names(gateway.port, '/outlier/x', 6);
    expect(first).toEqual({ u0: 3, '500 undefined': 3 });
    // Ejected: everything goes to the good endpoint.
    expect(await names(gateway.port, '/outlier/x', 6)).toEqual({ u0: 6 });
    await sleep(450);
    const after = await names(gateway.port, '/outlier/x', 4);
    expect(after['500 undefined']).toBeGreaterThan(0);
  });

  it('retries a connect failure on another endpoint', async () => {
    expect(await names(gateway.port, '/retry/x', 10)).toEqual({ u1: 10 });
  });

  it('makes no retry once the budget is spent (ratio 0, minPerSecond 0)', async () => {
    expect(await names(gateway.port, '/budget/x', 10)).toEqual({ u1: 5, '502 UPSTREAM_CONNECT_FAILED': 5 });
  });

  it('retries a reset POST whose small body was buffered, but not one with a large unbuffered body', async () => {
    resetHeads = 0;
    const small = await request(gateway.port, 'POST', '/reset/x', { body: 'small' });
    expect(small.status).toBe(502);
    expect(small.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    expect(resetHeads).toBe(2);

    resetHeads = 0;
    const body = Buffer.alloc(1024 * 1024, 'x');
    const raw = await rawExchange(
      gateway.port,
      Buffer.concat([
        Buffer.from(`POST /reset/x HTTP/1.1\r\nhost: t\r\ncontent-length: ${body.length}\r\n\r\n`),
        body,
      ]),
    );
    const [large] = parseResponses(raw);
    expect(large.status).toBe(502);
    expect(large.headers['x-trellis-error']).toBe('UPSTREAM_RESET');
    expect(resetHeads).toBe(1);
  });

  it('sets and propagates the deadline, and answers 504 when the upstream is slower', async () => {
    const before = Date.now();
    const fast = await request(gateway.port, 'GET', '/deadline/x');
    const deadline = Number(JSON.parse(fast.body).headers['x-trellis-deadline']);
    expect(deadline).toBeGreaterThanOrEqual(before + 300);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 300);

    const incoming = Date.now() + 150;
    const shorter = await request(gateway.port, 'GET', '/deadline/x', {
      headers: { 'x-trellis-deadline': String(incoming) },
    });
    expect(JSON.parse(shorter.body).headers['x-trellis-deadline']).toBe(String(incoming));

    const seenBefore = slow.requests;
    const started = Date.now();
    const timedOut = await request(gateway.port, 'GET', '/deadline/x?delay=2000');
    const took = Date.now() - started;
    expect(timedOut.status).toBe(504);
    expect(timedOut.headers['x-trellis-error']).toBe('UPSTREAM_TIMEOUT');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1_500);
    // No retry past the deadline.
    expect(slow.requests - seenBefore).toBe(1);

    const expired = await request(gateway.port, 'GET', '/deadline/x', {
      headers: { 'x-trellis-deadline': String(Date.now() - 1) },
    });
    expect(expired.status).toBe(504);
  });

  it("a caller's own short deadline passing counts nothing against the endpoint", async () => {
    for (let i = 0; i < 5; i++) {
      const late = await request(gateway.port, 'GET', '/caller-deadline/x?delay=300', {
        headers: { 'x-trellis-deadline': String(Date.now() + 30) },
      });
      expect(late.status).toBe(504);
      expect(late.headers['x-trellis-error']).toBe('UPSTREAM_TIMEOUT');
    }
    // Neither its breaker (3 failures) nor outlier detection (3 errors) took the endpoint out.
    const next = await request(gateway.port, 'GET', '/caller-deadline/x');
    expect(next.status).toBe(200);
  });

  it('retries an attempt that outlives the per-try timeout on the other endpoint', async () => {
    // Round-robin: the first request goes to one of the two; with delay=1000 the slow one times out.
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const response = await request(gateway.port, 'GET', '/pertry/x?delay=1000');
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(900);
    }
  });

  it('ends an exchange idle for longer than the idle timeout with 504', async () => {
    const started = Date.now();
    const response = await request(gateway.port, 'GET', '/idle/x?delay=3000');
    expect(response.status).toBe(504);
    expect(JSON.parse(response.body).error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('answers OVERFLOW at once beyond maxInFlight=1, maxPending=0', async () => {
    const slowOne = request(gateway.port, 'GET', '/overflow/x?delay=400');
    await sleep(50);
    const started = Date.now();
    const refused = await request(gateway.port, 'GET', '/overflow/x?delay=400');
    expect(refused.status).toBe(503);
    expect(refused.headers['x-trellis-error']).toBe('OVERFLOW');
    expect(Date.now() - started).toBeLessThan(300);
    expect((await slowOne).status).toBe(200);
  });

  it('queues within maxPending and serves in order', async () => {
    const all = await Promise.all([0, 1, 2].map(() => request(gateway.port, 'GET', '/queue/x?delay=100')));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('applies a policy change at runtime without dropping traffic', async () => {
    const inFlight = request(gateway.port, 'GET', '/overflow/x?delay=300');
    await sleep(30);
    source.update({
      policies: [plain('overflow', { concurrency: { maxInFlight: 10, maxPending: 0 } })],
    });
    await sleep(10);
    const second = await request(gateway.port, 'GET', '/overflow/x?delay=10');
    expect(second.status).toBe(200);
    expect((await inFlight).status).toBe(200);
  });
});
