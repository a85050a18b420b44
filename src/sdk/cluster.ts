import type { Logger } from 'pino';
import { Pool } from 'undici';
import {
  type Admission,
  type Balancer,
  type CircuitBreaker,
  type Clock,
  type ConcurrencyLimiter,
  createBalancer,
  createCircuitBreaker,
  createConcurrencyLimiter,
  createOutlierDetector,
  createRetryBudget,
  createRetryPolicy,
  type Endpoint,
  ejectUntil,
  type Instance,
  MeshError,
  type OutlierDetector,
  type RetryBudget,
  type RetryPolicy,
  type ServicePolicy,
} from '../core/index.ts';

/** An endpoint with what the SDK keeps per endpoint: its circuit breaker and connection pool. */
export interface SdkEndpoint extends Endpoint {
  /** null when the policy disables circuit breaking. */
  breaker: CircuitBreaker | null;
  pool: Pool;
}

/** A call waiting for a concurrency slot. */
export interface ClusterWaiter {
  onAdmitted(): void;
  /** The limits were lowered under it: overflow. */
  onRejected(): void;
}

export interface ClusterDeps {
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** Connect timeout of each new connection, ms (default 5 s). */
  connectTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, ms (default 4 s). */
  keepAliveTimeoutMs?: number;
}

/**
 * One service as the SDK sees it: one endpoint object per instance, updated in place as the view
 * changes; the balancer the policy names; a circuit breaker and an undici Pool (keep-alive) per
 * endpoint; the outlier detector, the concurrency limiter and the retry budget, all from core.
 */
export class SdkCluster {
  readonly name: string;
  policy!: ServicePolicy;
  retry!: RetryPolicy;
  endpoints: SdkEndpoint[] = [];
  balancer!: Balancer<SdkEndpoint>;
  outlier: OutlierDetector<SdkEndpoint> | null = null;
  readonly limiter: ConcurrencyLimiter = createConcurrencyLimiter();
  budget!: RetryBudget;
  /** ip-hash: the request header hashed (lower case). */
  hashHeader: string | undefined;
  /** Set by the view's change notifications; the next call resynchronises. */
  stale = false;

  private readonly byId = new Map<string, SdkEndpoint>();
  private readonly waiters: ClusterWaiter[] = [];
  private readonly deps: ClusterDeps;
  private closed = false;

  constructor(name: string, policy: ServicePolicy, deps: ClusterDeps) {
    this.name = name;
    this.deps = deps;
    this.applyPolicy(policy);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Brings the endpoints in line with the instances: adds, removes, and updates in place. */
  setInstances(instances: readonly Instance[]): void {
    const seen = new Set<string>();
    let changed = false;
    for (const instance of instances) {
      seen.add(instance.id);
      const existing = this.byId.get(instance.id);
      if (existing === undefined) {
        this.byId.set(instance.id, this.createEndpoint(instance));
        changed = true;
        continue;
      }
      if (existing.address !== instance.address || existing.port !== instance.port) {
        existing.address = instance.address;
        existing.port = instance.port;
        void existing.pool.close().catch(() => {});
        existing.pool = this.createPool(existing);
        changed = true;
      }
      const weight = instance.weight ?? 100;
      if (
        existing.weight !== weight ||
        existing.health !== instance.health ||
        existing.zone !== instance.zone
      ) {
        existing.weight = weight;
        existing.health = instance.health;
        existing.zone = instance.zone;
        changed = true;
      }
    }
    for (const [id, endpoint] of this.byId) {
      if (seen.has(id)) continue;
      this.byId.delete(id);
      // In-flight requests finish; the pool then closes its connections.
      void endpoint.pool.close().catch(() => {});
      changed = true;
    }
    if (!changed) return;
    this.endpoints = [...this.byId.values()];
    this.balancer.setEndpoints(this.endpoints);
    this.outlier?.setEndpoints(this.endpoints);
  }

  /** Applies a (changed) policy; an invalid one is logged and the current one kept. */
  applyPolicy(policy: ServicePolicy): void {
    const previous = this.policy as ServicePolicy | undefined;
    if (previous !== undefined && same(previous, policy)) return;
    let retry: RetryPolicy;
    try {
      retry = createRetryPolicy({
        retryOn: policy.retry.retryOn,
        maxAttempts: policy.retry.maxAttempts,
        perTryTimeoutMs: policy.retry.perTryTimeoutMs,
        retriableStatusCodes: policy.retry.retriableStatusCodes,
        maxBufferedBodyBytes: policy.retry.maxBufferedBodyBytes,
        backoffBaseMs: policy.retry.backoffBaseMs,
        backoffCapMs: policy.retry.backoffMaxMs,
      });
      if (previous === undefined || previous.loadBalancer.kind !== policy.loadBalancer.kind) {
        const { clock, random } = this.deps;
        const balancer = createBalancer<SdkEndpoint>(policy.loadBalancer.kind, { clock, random });
        balancer.setEndpoints(this.endpoints);
        this.balancer = balancer;
      }
    } catch (error) {
      if (previous === undefined) throw error;
      this.deps.logger.warn({ err: error, service: this.name }, 'mesh sdk: invalid policy ignored');
      return;
    }
    const { clock } = this.deps;
    this.policy = policy;
    this.retry = retry;
    this.hashHeader = policy.loadBalancer.hashHeader?.toLowerCase() || undefined;
    if (previous === undefined || !same(previous.circuitBreaker, policy.circuitBreaker)) {
      for (const endpoint of this.endpoints) endpoint.breaker = this.createBreaker(endpoint);
    }
    if (previous === undefined || !same(previous.outlierDetection, policy.outlierDetection)) {
      const outlier = policy.outlierDetection;
      this.outlier = outlier.enabled
        ? createOutlierDetector<SdkEndpoint>({
            clock,
            consecutiveErrors: outlier.consecutiveErrors,
            baseEjectionTimeMs: outlier.baseEjectionTimeMs,
            maxEjectionTimeMs: outlier.maxEjectionTimeMs,
            maxEjectionPercent: outlier.maxEjectionPercent,
          })
        : null;
      this.outlier?.setEndpoints(this.endpoints);
    }
    if (previous === undefined || !same(previous.retry.budget, policy.retry.budget)) {
      this.budget = createRetryBudget({
        clock,
        ratio: policy.retry.budget.ratio,
        minPerSecond: policy.retry.budget.minPerSecond,
      });
    }
    this.limiter.setLimits(policy.concurrency);
    this.admitWaiters();
  }

  // --- the request path ---

  /** Takes a concurrency slot (`start`), queues `waiter` (`queue`), or refuses (`reject`). */
  admit(waiter: ClusterWaiter): Admission {
    const admission = this.limiter.tryAcquire();
    if (admission === 'queue') this.waiters.push(waiter);
    return admission;
  }

  /** Gives back a slot taken by `admit` (or handed over by `onAdmitted`); may start a waiter. */
  release(): void {
    while (this.limiter.release()) {
      const waiter = this.waiters.shift();
      if (waiter !== undefined) {
        waiter.onAdmitted();
        return;
      }
    }
  }

  cancelWaiter(waiter: ClusterWaiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    this.limiter.cancelPending();
  }

  /**
   * An endpoint whose circuit breaker admits the request (the admission is taken), preferring one
   * other than `exclude`. Throws NO_HEALTHY_UPSTREAM or CIRCUIT_OPEN when there is none.
   */
  pick(hashKey: string | undefined, exclude: SdkEndpoint | undefined): SdkEndpoint {
    const endpoint = this.balancer.pick(hashKey, exclude);
    if (endpoint === undefined) throw this.noHealthy();
    const breaker = endpoint.breaker;
    if (breaker === null || breaker.allowRequest()) return endpoint;
    return this.pickAdmitted(endpoint, exclude);
  }

  recordStart(endpoint: SdkEndpoint): void {
    this.balancer.onRequestStart(endpoint);
  }

  recordSuccess(endpoint: SdkEndpoint, latencyMs: number): void {
    endpoint.breaker?.onSuccess();
    this.outlier?.onSuccess(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  /** A connect failure, reset, timeout or 5xx. */
  recordFailure(endpoint: SdkEndpoint, latencyMs: number): void {
    endpoint.breaker?.onFailure();
    this.outlier?.onFailure(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, false);
  }

  /** The attempt ended without saying anything about the endpoint (the caller gave up). */
  recordCancel(endpoint: SdkEndpoint, latencyMs: number): void {
    endpoint.breaker?.onCancel();
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  /** Closes every connection; waits at most `graceMs` for requests in flight. */
  async close(graceMs = 1_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.onRejected();
    await Promise.all(this.endpoints.map((endpoint) => closePool(endpoint.pool, graceMs)));
  }

  private noHealthy(): MeshError {
    const total = this.endpoints.length;
    const message =
      total === 0
        ? `service "${this.name}" has no instances`
        : `service "${this.name}" has no healthy or degraded instance (${total} registered)`;
    return new MeshError('NO_HEALTHY_UPSTREAM', message, {
      details: [{ message, service: this.name, instances: total }],
    });
  }

  /** The slow path of `pick`: the balancer's choice refused; any other admitted endpoint will do. */
  private pickAdmitted(refused: SdkEndpoint, exclude: SdkEndpoint | undefined): SdkEndpoint {
    const now = this.deps.clock.now();
    const eligible = this.balancer.eligible;
    // Not ejected first, then (panic) ejected ones, then the excluded one.
    for (let pass = 0; pass < 3; pass++) {
      for (const endpoint of eligible) {
        if (endpoint === refused) continue;
        if ((endpoint === exclude) !== (pass === 2)) continue;
        if (pass === 0 && endpoint.ejectedUntil > now) continue;
        if (endpoint.breaker === null || endpoint.breaker.allowRequest()) return endpoint;
      }
    }
    const message = `every eligible instance of "${this.name}" has an open circuit breaker`;
    throw new MeshError('CIRCUIT_OPEN', message, {
      details: [{ message, service: this.name, instances: eligible.length }],
    });
  }

  private createEndpoint(instance: Instance): SdkEndpoint {
    const endpoint: SdkEndpoint = {
      id: instance.id,
      address: instance.address,
      port: instance.port,
      weight: instance.weight ?? 100,
      health: instance.health,
      zone: instance.zone,
      inFlight: 0,
      ewmaMs: -1,
      ewmaStamp: 0,
      ejectedUntil: 0,
      breaker: null,
      pool: undefined as unknown as Pool,
    };
    endpoint.pool = this.createPool(endpoint);
    endpoint.breaker = this.createBreaker(endpoint);
    return endpoint;
  }

  private createPool(endpoint: SdkEndpoint): Pool {
    const pool = new Pool(originOf(endpoint), {
      keepAliveTimeout: this.deps.keepAliveTimeoutMs ?? 4_000,
      connect: { timeout: this.deps.connectTimeoutMs ?? 5_000 },
    });
    if (this.closed) void pool.close().catch(() => {});
    return pool;
  }

  private createBreaker(endpoint: SdkEndpoint): CircuitBreaker | null {
    const options = this.policy.circuitBreaker;
    if (!options.enabled) return null;
    const { logger } = this.deps;
    const service = this.name;
    const breaker: CircuitBreaker = createCircuitBreaker({
      clock: this.deps.clock,
      consecutiveFailures: options.consecutiveFailures,
      failureRatio: options.failureRatio,
      minRequests: options.minRequests,
      windowMs: options.windowMs,
      recoveryTimeMs: options.recoveryTimeMs,
      halfOpenProbes: options.halfOpenProbes,
      onStateChange(state, previous) {
        // An open breaker ejects its endpoint, so balancers skip it until it may probe again.
        if (state === 'open') ejectUntil(endpoint, breaker.openUntil);
        logger.debug({ service, endpoint: endpoint.id, state, previous }, 'mesh sdk: circuit breaker');
      },
    });
    return breaker;
  }

  /** After the limits were raised (or lowered), queued waiters start or overflow. */
  private admitWaiters(): void {
    while (this.waiters.length > 0) {
      this.limiter.cancelPending();
      const admission = this.limiter.tryAcquire();
      if (admission === 'queue') return;
      const waiter = this.waiters.shift()!;
      if (admission === 'start') waiter.onAdmitted();
      else waiter.onRejected();
    }
  }
}

export function originOf(endpoint: { address: string; port: number }): string {
  const host =
    endpoint.address.includes(':') && !endpoint.address.startsWith('[')
      ? `[${endpoint.address}]`
      : endpoint.address;
  return `http://${host}:${endpoint.port}`;
}

async function closePool(pool: Pool, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const outcome = await Promise.race([pool.close().then(() => 'closed' as const), grace]).catch(
    () => 'late' as const,
  );
  clearTimeout(timer);
  if (outcome === 'late') await pool.destroy().catch(() => {});
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
