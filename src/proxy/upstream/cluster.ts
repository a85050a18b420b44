import type { Logger } from 'pino';
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
  type Endpoint,
  ejectUntil,
  type Instance,
  type OutlierDetector,
  type RetryBudget,
  type ServicePolicy,
} from '../../core/index.ts';
import { type ClusterStatsHolder, statsSlots } from '../../telemetry/index.ts';
import { type CannedResponse, type ClusterErrors, clusterErrors } from '../error-responses.ts';
import { H2SessionPool } from './h2-session-pool.ts';
import { type PoolOptions, UpstreamPool } from './pool.ts';
import { type ExchangeSettings, exchangeSettings } from './settings.ts';

/** An endpoint with what the proxy keeps per endpoint: its circuit breaker and connection pool. */
export interface UpstreamEndpoint extends Endpoint {
  /** null when the policy disables circuit breaking. */
  breaker: CircuitBreaker | null;
  pool: UpstreamPool;
  /** The HTTP/2 sessions of an h2c cluster (made on first use; see `Cluster.h2Sessions`). */
  h2: H2SessionPool | null;
  /** Attempts ended on this endpoint (success, failure or cancel), and the failed ones: for admin views. */
  requests: number;
  failures: number;
}

/** An exchange waiting for a concurrency slot. */
export interface ClusterWaiter {
  /** A slot was handed over: start now (without asking the limiter again). */
  onAdmitted(): void;
  /** The queue shrank under it (the limits were lowered): answer overflow. */
  onRejected(): void;
}

export interface ClusterDeps {
  clock: Clock;
  logger: Logger;
  pool?: PoolOptions;
  random?: () => number;
}

/**
 * One service as the proxy sees it (Envoy's cluster): one endpoint object per instance, updated in
 * place; the balancer the policy names; a circuit breaker and a connection pool per endpoint; the
 * outlier detector; the concurrency limiter with its queue; the retry budget. `applyPolicy` swaps
 * settings at runtime without touching connections or in-flight exchanges.
 */
export class Cluster implements ClusterStatsHolder {
  readonly name: string;
  policy!: ServicePolicy;
  /** The policy's exchange settings (routes with overrides keep their own). */
  settings!: ExchangeSettings;
  /** Bumped by every applied policy change, so cached per-route settings know to recompute. */
  version = 0;
  endpoints: UpstreamEndpoint[] = [];
  balancer!: Balancer<UpstreamEndpoint>;
  outlier: OutlierDetector<UpstreamEndpoint> | null = null;
  readonly limiter: ConcurrencyLimiter = createConcurrencyLimiter();
  budget!: RetryBudget;
  /** ip-hash: the request header hashed instead of the client address (lowercase). */
  hashHeader: string | undefined = undefined;
  /** The policy's upstreamProtocol is h2c: exchanges go to the endpoints as HTTP/2 streams. */
  h2c = false;
  readonly errors: ClusterErrors;
  /** Why the last `pick` returned undefined. */
  pickError: CannedResponse;
  /** Metrics of the traffic to this cluster (per listener direction), filled on first use. */
  readonly stats = statsSlots();
  /** Endpoints ejected by outlier detection so far. */
  ejections = 0;

  private readonly byId = new Map<string, UpstreamEndpoint>();
  private readonly waiters: ClusterWaiter[] = [];
  private readonly deps: ClusterDeps;
  private closed = false;

  constructor(name: string, policy: ServicePolicy, deps: ClusterDeps) {
    this.name = name;
    this.deps = deps;
    this.errors = clusterErrors(name);
    this.pickError = this.errors.noHealthy;
    this.applyPolicy(policy);
  }

  get pending(): number {
    return this.waiters.length;
  }

  /** Brings the endpoints in line with the instances: adds, removes, and updates in place. */
  setInstances(instances: readonly Instance[]): void {
    const byId = this.byId;
    const seen = new Set<string>();
    let changed = false;
    for (const instance of instances) {
      seen.add(instance.id);
      const existing = byId.get(instance.id);
      if (existing === undefined) {
        byId.set(instance.id, this.createEndpoint(instance));
        changed = true;
        continue;
      }
      if (existing.address !== instance.address || existing.port !== instance.port) {
        existing.address = instance.address;
        existing.port = instance.port;
        existing.pool.retarget();
        existing.h2?.retarget();
        changed = true;
      }
      const weight = instance.weight ?? 100;
      if (
        existing.weight !== weight ||
        existing.health !== instance.health ||
        existing.zone !== instance.zone
      ) {
        // Like Envoy's successful_active_health_check_uneject_host: an endpoint the control plane's
        // active check finds healthy again is back in rotation at once, not after the breaker's or
        // the ejection's timer runs out.
        if (instance.health === 'healthy' && existing.health !== 'healthy') {
          existing.ejectedUntil = 0;
          existing.breaker = this.createBreaker(existing);
        }
        existing.weight = weight;
        existing.health = instance.health;
        existing.zone = instance.zone;
        changed = true;
      }
    }
    for (const [id, endpoint] of byId) {
      if (seen.has(id)) continue;
      byId.delete(id);
      endpoint.pool.close();
      endpoint.h2?.close();
      changed = true;
    }
    if (!changed) return;
    this.endpoints = [...byId.values()];
    this.balancer.setEndpoints(this.endpoints);
    this.outlier?.setEndpoints(this.endpoints);
  }

  /** Applies a (changed) policy; an invalid one is logged and the current one kept. */
  applyPolicy(policy: ServicePolicy): void {
    const previous = this.policy as ServicePolicy | undefined;
    if (previous !== undefined && samePolicy(previous, policy)) {
      this.policy = policy;
      return;
    }
    let settings: ExchangeSettings;
    try {
      settings = exchangeSettings(policy);
    } catch (error) {
      this.deps.logger.warn({ err: error, service: this.name }, 'proxy: invalid policy ignored');
      return;
    }
    const { clock, random } = this.deps;
    this.policy = policy;
    this.settings = settings;
    if (previous === undefined || previous.loadBalancer.kind !== policy.loadBalancer.kind) {
      this.balancer = createBalancer<UpstreamEndpoint>(policy.loadBalancer.kind, { clock, random });
      this.balancer.setEndpoints(this.endpoints);
    }
    this.hashHeader = policy.loadBalancer.hashHeader?.toLowerCase() || undefined;
    if (previous === undefined || !same(previous.circuitBreaker, policy.circuitBreaker)) {
      for (const endpoint of this.endpoints) endpoint.breaker = this.createBreaker(endpoint);
    }
    if (previous === undefined || !same(previous.outlierDetection, policy.outlierDetection)) {
      const outlier = policy.outlierDetection;
      this.outlier = outlier.enabled
        ? createOutlierDetector<UpstreamEndpoint>({
            clock,
            consecutiveErrors: outlier.consecutiveErrors,
            baseEjectionTimeMs: outlier.baseEjectionTimeMs,
            maxEjectionTimeMs: outlier.maxEjectionTimeMs,
            maxEjectionPercent: outlier.maxEjectionPercent,
            onEject: () => {
              this.ejections++;
            },
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
    this.applyProtocol(policy);
    this.limiter.setLimits(policy.concurrency);
    this.admitWaiters();
    this.version++;
  }

  /** h2c on or off; sessions left by a switch to http1 close once their streams are done. */
  private applyProtocol(policy: ServicePolicy): void {
    const h2c = policy.upstreamProtocol === 'h2c';
    for (const endpoint of this.endpoints) {
      const sessions = endpoint.h2;
      if (sessions === null) continue;
      if (h2c) {
        sessions.setIdleTimeout(sessionIdleMs(policy));
      } else {
        sessions.close();
        endpoint.h2 = null;
      }
    }
    this.h2c = h2c;
  }

  /** The endpoint's HTTP/2 sessions (h2c), made on first use. */
  h2Sessions(endpoint: UpstreamEndpoint): H2SessionPool {
    let sessions = endpoint.h2;
    if (sessions === null) {
      sessions = new H2SessionPool(endpoint, this.deps.clock, {
        idleTimeoutMs: sessionIdleMs(this.policy),
        connectTimeoutMs: this.deps.pool?.connectTimeoutMs,
      });
      if (this.closed) sessions.close();
      endpoint.h2 = sessions;
    }
    return sessions;
  }

  // --- the request path ---

  /** Takes a concurrency slot (`start`), queues `waiter` (`queue`), or refuses (`reject`: overflow). */
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

  /** A queued waiter gives up (timed out, client gone). */
  cancelWaiter(waiter: ClusterWaiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    this.limiter.cancelPending();
  }

  /**
   * An endpoint whose circuit breaker admits the request (the admission is taken), preferring one
   * other than `exclude`; undefined with `pickError` set when there is none.
   */
  pick(hashKey: string | undefined, exclude: UpstreamEndpoint | undefined): UpstreamEndpoint | undefined {
    const endpoint = this.balancer.pick(hashKey, exclude);
    if (endpoint === undefined) {
      this.pickError = this.errors.noHealthy;
      return undefined;
    }
    const breaker = endpoint.breaker;
    if (breaker === null || breaker.allowRequest()) return endpoint;
    return this.pickAdmitted(endpoint, exclude);
  }

  recordSuccess(endpoint: UpstreamEndpoint, latencyMs: number): void {
    endpoint.requests++;
    endpoint.breaker?.onSuccess();
    this.outlier?.onSuccess(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  /** A connect failure, reset, timeout or 5xx. */
  recordFailure(endpoint: UpstreamEndpoint, latencyMs: number): void {
    endpoint.requests++;
    endpoint.failures++;
    endpoint.breaker?.onFailure();
    this.outlier?.onFailure(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, false);
  }

  /** The attempt ended without saying anything about the endpoint (the client went away). */
  recordCancel(endpoint: UpstreamEndpoint, latencyMs: number): void {
    endpoint.requests++;
    endpoint.breaker?.onCancel();
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const endpoint of this.endpoints) {
      endpoint.pool.close();
      endpoint.h2?.close();
    }
  }

  /** The slow path of `pick`: the balancer's choice refused; any other admitted endpoint will do. */
  private pickAdmitted(
    refused: UpstreamEndpoint,
    exclude: UpstreamEndpoint | undefined,
  ): UpstreamEndpoint | undefined {
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
    this.pickError = this.errors.circuitOpen;
    return undefined;
  }

  private createEndpoint(instance: Instance): UpstreamEndpoint {
    const endpoint: UpstreamEndpoint = {
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
      pool: undefined as unknown as UpstreamPool,
      h2: null,
      requests: 0,
      failures: 0,
    };
    endpoint.pool = new UpstreamPool(endpoint, this.deps.clock, this.deps.pool);
    if (this.closed) endpoint.pool.close();
    endpoint.breaker = this.createBreaker(endpoint);
    return endpoint;
  }

  private createBreaker(endpoint: UpstreamEndpoint): CircuitBreaker | null {
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
        logger.debug({ service, endpoint: endpoint.id, state, previous }, 'proxy: circuit breaker');
      },
    });
    return breaker;
  }

  /** After the limits were raised, queued waiters that now fit start. */
  private admitWaiters(): void {
    while (this.waiters.length > 0) {
      this.limiter.cancelPending();
      const admission = this.limiter.tryAcquire();
      // Still full: tryAcquire took the pending place back.
      if (admission === 'queue') return;
      const waiter = this.waiters.shift()!;
      if (admission === 'start') waiter.onAdmitted();
      else waiter.onRejected();
    }
  }
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** An HTTP/2 session with no stream is closed after the policy's idle timeout (60 s when that is off). */
function sessionIdleMs(policy: ServicePolicy): number {
  return policy.timeout.idleMs > 0 ? policy.timeout.idleMs : 60_000;
}

function samePolicy(a: ServicePolicy, b: ServicePolicy): boolean {
  return same(a, b);
}
