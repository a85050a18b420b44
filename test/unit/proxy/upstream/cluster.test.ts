import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Instance, ServicePolicy } from '../../../../src/core/index.ts';
import { Cluster, defaultServicePolicy } from '../../../../src/proxy/upstream/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

const logger = pino({ level: 'silent' });

function inst(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'svc',
    address: '127.0.0.1',
    port: 1000 + Number(id.replace(/\D/g, '') || 0),
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: 0,
    healthChangedAt: 0,
    ...overrides,
  };
}

function make(changes: Partial<ServicePolicy> = {}) {
  const clock = createFakeClock();
  const policy = {
    ...defaultServicePolicy('svc'),
    loadBalancer: { kind: 'round-robin' as const },
    ...changes,
  };
  const cluster = new Cluster('svc', policy, { clock, logger, random: () => 0.5 });
  return { clock, cluster, policy };
}

function waiter() {
  const calls: string[] = [];
  return { calls, onAdmitted: () => calls.push('admitted'), onRejected: () => calls.push('rejected') };
}

describe('Cluster', () => {
  it('keeps one endpoint object per instance and updates it in place', () => {
    const { cluster } = make();
    cluster.setInstances([inst('a1'), inst('a2')]);
    const [a1, a2] = cluster.endpoints;
    cluster.setInstances([inst('a1', { weight: 5, health: 'degraded' }), inst('a2'), inst('a3')]);
    expect(cluster.endpoints[0]).toBe(a1);
    expect(cluster.endpoints[1]).toBe(a2);
    expect(a1.weight).toBe(5);
    expect(a1.health).toBe('degraded');
    expect(cluster.balancer.eligible.map((e) => e.id)).toEqual(['a2', 'a3']);
    cluster.setInstances([inst('a2')]);
    expect(cluster.endpoints.map((e) => e.id)).toEqual(['a2']);
  });

  it('falls back to degraded endpoints and never picks unhealthy or unknown ones', () => {
    const { cluster } = make();
    cluster.setInstances([
      inst('a1', { health: 'unhealthy' }),
      inst('a2', { health: 'degraded' }),
      inst('a3', { health: 'unknown' }),
    ]);
    expect(cluster.pick(undefined, undefined)?.id).toBe('a2');
    cluster.setInstances([inst('a1', { health: 'unhealthy' })]);
    expect(cluster.pick(undefined, undefined)).toBeUndefined();
    expect(cluster.pickError.code).toBe('NO_HEALTHY_UPSTREAM');
  });

  it('moves the pool to a new address', () => {
    const { cluster } = make();
    cluster.setInstances([inst('a1')]);
    const endpoint = cluster.endpoints[0];
    const generation = endpoint.pool.generation;
    cluster.setInstances([inst('a1', { port: 4242 })]);
    expect(endpoint.port).toBe(4242);
    expect(endpoint.pool.generation).toBe(generation + 1);
  });

  it('opens a breaker after consecutive failures, ejects its endpoint and picks around it', () => {
    const { cluster, clock } = make({
      circuitBreaker: {
        ...defaultServicePolicy('svc').circuitBreaker,
        consecutiveFailures: 3,
        recoveryTimeMs: 1_000,
      },
      outlierDetection: { ...defaultServicePolicy('svc').outlierDetection, enabled: false },
    });
    cluster.setInstances([inst('a1'), inst('a2')]);
    const [a1, a2] = cluster.endpoints;
    for (let i = 0; i < 3; i++) {
      cluster.balancer.onRequestStart(a1);
      cluster.recordFailure(a1, 1);
    }
    expect(a1.breaker?.state).toBe('open');
    expect(a1.ejectedUntil).toBe(clock.now() + 1_000);
    for (let i = 0; i < 4; i++) expect(cluster.pick(undefined, undefined)).toBe(a2);
    // Every breaker open: CIRCUIT_OPEN.
    for (let i = 0; i < 3; i++) cluster.recordFailure(a2, 1);
    expect(cluster.pick(undefined, undefined)).toBeUndefined();
    expect(cluster.pickError.code).toBe('CIRCUIT_OPEN');
    // After the recovery time the breakers let probes through.
    clock.advance(1_000);
    expect(cluster.pick(undefined, undefined)).toBeDefined();
  });

  it('ejects an outlier after consecutive errors', () => {
    const { cluster, clock } = make({
      circuitBreaker: { ...defaultServicePolicy('svc').circuitBreaker, enabled: false },
      outlierDetection: {
        enabled: true,
        consecutiveErrors: 2,
        baseEjectionTimeMs: 500,
        maxEjectionTimeMs: 500,
        maxEjectionPercent: 50,
      },
    });
    cluster.setInstances([inst('a1'), inst('a2')]);
    const [a1, a2] = cluster.endpoints;
    cluster.recordFailure(a1, 1);
    cluster.recordFailure(a1, 1);
    expect(a1.ejectedUntil).toBe(clock.now() + 500);
    for (let i = 0; i < 4; i++) expect(cluster.pick(undefined, undefined)).toBe(a2);
    clock.advance(500);
    const picked = new Set([0, 1, 2, 3].map(() => cluster.pick(undefined, undefined)));
    expect(picked).toEqual(new Set([a1, a2]));
  });

  it('keeps outlier ejections and their cap across a change of the detection settings', () => {
    const detection = {
      enabled: true,
      consecutiveErrors: 3,
      baseEjectionTimeMs: 10_000,
      maxEjectionTimeMs: 60_000,
      maxEjectionPercent: 50,
    };
    const { cluster, clock, policy } = make({
      circuitBreaker: { ...defaultServicePolicy('svc').circuitBreaker, enabled: false },
      outlierDetection: detection,
    });
    cluster.setInstances([inst('a1'), inst('a2'), inst('a3'), inst('a4')]);
    const [a1, a2, a3, a4] = cluster.endpoints;
    for (const endpoint of [a1, a2]) for (let i = 0; i < 3; i++) cluster.recordFailure(endpoint, 1);
    expect(cluster.outlier?.ejectedCount()).toBe(2);

    cluster.applyPolicy({ ...policy, outlierDetection: { ...detection, consecutiveErrors: 4 } });
    // Still ejected, and at the cap of 50%: the others' errors eject nobody more.
    expect(a1.ejectedUntil).toBe(clock.now() + 10_000);
    expect(cluster.outlier?.isEjected(a2)).toBe(true);
    for (const endpoint of [a3, a4]) for (let i = 0; i < 4; i++) cluster.recordFailure(endpoint, 1);
    expect(cluster.outlier?.ejectedCount()).toBe(2);
    expect([a3, a4].every((endpoint) => endpoint.ejectedUntil === 0)).toBe(true);

    // Detection turned off: its ejections end at once.
    cluster.applyPolicy({ ...policy, outlierDetection: { ...detection, enabled: false } });
    expect([a1, a2].every((endpoint) => endpoint.ejectedUntil === 0)).toBe(true);
  });

  it('new breaker settings close every breaker and end the ejections of the old open ones', () => {
    const breaker = {
      ...defaultServicePolicy('svc').circuitBreaker,
      consecutiveFailures: 2,
      recoveryTimeMs: 60_000,
    };
    const detection = {
      enabled: true,
      consecutiveErrors: 2,
      baseEjectionTimeMs: 5_000,
      maxEjectionTimeMs: 5_000,
      maxEjectionPercent: 50,
    };
    const { cluster, clock, policy } = make({ circuitBreaker: breaker, outlierDetection: detection });
    cluster.setInstances([inst('a1'), inst('a2'), inst('a3'), inst('a4')]);
    const [a1, a2] = cluster.endpoints;
    cluster.applyPolicy({ ...policy, outlierDetection: { ...detection, enabled: false } });
    for (let i = 0; i < 2; i++) cluster.recordFailure(a1, 1);
    expect(a1.breaker?.state).toBe('open');
    expect(a1.ejectedUntil).toBe(clock.now() + 60_000);

    cluster.applyPolicy({
      ...policy,
      circuitBreaker: { ...breaker, recoveryTimeMs: 1_000 },
      outlierDetection: { ...detection, enabled: false },
    });
    expect(a1.breaker?.state).toBe('closed');
    expect(a1.ejectedUntil).toBe(0);

    // An endpoint the outlier detector ejected stays out when only the breaker settings change.
    cluster.applyPolicy({ ...policy, circuitBreaker: { ...breaker, consecutiveFailures: 100 } });
    for (let i = 0; i < 2; i++) cluster.recordFailure(a2, 1);
    expect(a2.ejectedUntil).toBe(clock.now() + 5_000);
    cluster.applyPolicy({ ...policy, circuitBreaker: { ...breaker, consecutiveFailures: 50 } });
    expect(a2.ejectedUntil).toBe(clock.now() + 5_000);
  });

  it('an endpoint found healthy again by the active check is no longer counted as ejected', () => {
    const { cluster } = make({
      circuitBreaker: { ...defaultServicePolicy('svc').circuitBreaker, enabled: false },
      outlierDetection: {
        enabled: true,
        consecutiveErrors: 1,
        baseEjectionTimeMs: 30_000,
        maxEjectionTimeMs: 30_000,
        maxEjectionPercent: 50,
      },
    });
    cluster.setInstances([inst('a1'), inst('a2')]);
    const [a1, a2] = cluster.endpoints;
    cluster.recordFailure(a1, 1);
    expect(cluster.outlier?.isEjected(a1)).toBe(true);
    cluster.setInstances([inst('a1', { health: 'unhealthy' }), inst('a2')]);
    cluster.setInstances([inst('a1'), inst('a2')]);
    expect(a1.ejectedUntil).toBe(0);
    expect(cluster.outlier?.ejectedCount()).toBe(0);
    // So the cap (one of two) leaves room to eject a2.
    cluster.recordFailure(a2, 1);
    expect(cluster.outlier?.isEjected(a2)).toBe(true);
  });

  it('admits, queues and rejects by the concurrency limits, and hands slots to waiters in order', () => {
    const { cluster } = make({ concurrency: { maxInFlight: 1, maxPending: 2 } });
    const [a, b, c, d] = [waiter(), waiter(), waiter(), waiter()];
    expect(cluster.admit(a)).toBe('start');
    expect(cluster.admit(b)).toBe('queue');
    expect(cluster.admit(c)).toBe('queue');
    expect(cluster.admit(d)).toBe('reject');
    cluster.cancelWaiter(b);
    expect(cluster.pending).toBe(1);
    cluster.release();
    expect(c.calls).toEqual(['admitted']);
    expect(b.calls).toEqual([]);
    cluster.release();
    expect(cluster.limiter.inFlight).toBe(0);
  });

  it('starts queued waiters when a policy change raises the limit', () => {
    const { cluster, policy } = make({ concurrency: { maxInFlight: 1, maxPending: 5 } });
    const [a, b, c] = [waiter(), waiter(), waiter()];
    cluster.admit(a);
    cluster.admit(b);
    cluster.admit(c);
    cluster.applyPolicy({ ...policy, concurrency: { maxInFlight: 2, maxPending: 5 } });
    expect(b.calls).toEqual(['admitted']);
    expect(c.calls).toEqual([]);
    cluster.applyPolicy({ ...policy, concurrency: { maxInFlight: 2, maxPending: 0 } });
    expect(c.calls).toEqual(['rejected']);
  });

  it('applies policy changes at runtime and ignores an invalid one', () => {
    const { cluster, policy } = make();
    cluster.setInstances([inst('a1'), inst('a2')]);
    const version = cluster.version;
    cluster.applyPolicy({ ...policy });
    expect(cluster.version).toBe(version);
    cluster.applyPolicy({ ...policy, loadBalancer: { kind: 'ip-hash', hashHeader: 'X-User' } });
    expect(cluster.balancer.kind).toBe('ip-hash');
    expect(cluster.balancer.eligible).toHaveLength(2);
    expect(cluster.hashHeader).toBe('x-user');
    expect(cluster.version).toBe(version + 1);
    cluster.applyPolicy({ ...policy, retry: { ...policy.retry, maxAttempts: 0 } });
    expect(cluster.balancer.kind).toBe('ip-hash');
    expect(cluster.version).toBe(version + 1);
  });

  it('derives exchange settings from the policy', () => {
    const { cluster, policy } = make();
    expect(cluster.settings).toMatchObject({
      requestTimeoutMs: 15_000,
      retries: true,
      bufferLimit: 64 * 1024,
    });
    cluster.applyPolicy({ ...policy, retry: { ...policy.retry, maxAttempts: 1 } });
    expect(cluster.settings).toMatchObject({ retries: false, bufferLimit: 0 });
  });
});
