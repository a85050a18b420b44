/**
 * The I/O-free half of a cluster (Envoy's word: one service as a caller sees it), shared by the
 * proxy's Cluster and the SDK's SdkCluster: one endpoint object per instance updated in place, the
 * balancer the policy names (healthy endpoints, degraded ones when none is healthy), a circuit breaker
 * per endpoint, outlier detection, the concurrency limiter with its queue of waiters, and the retry
 * budget. Subclasses add the connections (how an endpoint is reached) and the per-exchange settings.
 */
import { type Balancer, createBalancer, type Endpoint, ejectUntil } from '../balancers/index.ts';
import type { Clock } from '../clock.ts';
import type { HealthState, Instance, ServicePolicy } from '../model/index.ts';
import {
  type Admission,
  type BreakerState,
  type CircuitBreaker,
  type ConcurrencyLimiter,
  createCircuitBreaker,
  createConcurrencyLimiter,
  createOutlierDetector,
  createRetryBudget,
  type OutlierDetector,
  type RetryBudget,
} from '../resilience/index.ts';

/** An endpoint with its circuit breaker and attempt counters (for admin views and metrics). */
export interface ResilientEndpoint extends Endpoint {
  /** null when the policy disables circuit breaking. */
  breaker: CircuitBreaker | null;
  /** Attempts ended on this endpoint (success, failure or cancel), and the failed ones. */
  requests: number;
  failures: number;
}

/** An exchange waiting for a concurrency slot. */
export interface ClusterWaiter {
  /** A slot was handed over: start now (without asking the limiter again). */
  onAdmitted(): void;
  /** The queue shrank under it (the limits were lowered) or the cluster closed: overflow. */
  onRejected(): void;
}

/** Why the last `pick` found no endpoint (the MeshError code to answer with). */
export type PickFailure = 'NO_HEALTHY_UPSTREAM' | 'CIRCUIT_OPEN';

export interface EndpointSetDeps {
  clock: Clock;
  /** Uniform in [0, 1), for balancers (default Math.random). */
  random?: () => number;
}

/**
 * The shared fields of an endpoint, fresh for `instance`; the set gives it its breaker. Subclasses
 * add their connections as class fields, so V8 keeps every field in the object (a spread or added
 * properties would move the later ones out of line, one more load on the request path).
 */
export class EndpointState implements ResilientEndpoint {
  readonly id: string;
  address: string;
  port: number;
  weight: number;
  health: HealthState;
  zone: string | undefined;
  inFlight = 0;
  ewmaMs = -1;
  ewmaStamp = 0;
  ejectedUntil = 0;
  breaker: CircuitBreaker | null = null;
  requests = 0;
  failures = 0;

  constructor(instance: Instance) {
    this.id = instance.id;
    this.address = instance.address;
    this.port = instance.port;
    this.weight = instance.weight ?? 100;
    this.health = instance.health;
    this.zone = instance.zone;
  }
}

/**
 * `S` is what a subclass derives from the policy for its exchanges (`compileSettings`). Subclass
 * constructors call `applyPolicy` last, once their own fields exist.
 */
export abstract class EndpointSet<E extends ResilientEndpoint, S> {
  readonly name: string;
  policy!: ServicePolicy;
  settings!: S;
  endpoints: E[] = [];
  balancer!: Balancer<E>;
  outlier: OutlierDetector<E> | null = null;
  readonly limiter: ConcurrencyLimiter = createConcurrencyLimiter();
  budget!: RetryBudget;
  /** ip-hash: the request header hashed instead of the client address (lowercase). */
  hashHeader: string | undefined = undefined;
  /** Why the last `pick` returned undefined. */
  pickFailure: PickFailure = 'NO_HEALTHY_UPSTREAM';
  /** Endpoints ejected by outlier detection so far. */
  ejections = 0;

  protected readonly clock: Clock;
  protected readonly random: (() => number) | undefined;
  protected closed = false;
  private readonly byId = new Map<string, E>();
  private readonly waiters: ClusterWaiter[] = [];

  constructor(name: string, deps: EndpointSetDeps) {
    this.name = name;
    this.clock = deps.clock;
    this.random = deps.random;
  }

  /** The settings exchanges read, from a policy; throws when the policy is invalid. */
  protected abstract compileSettings(policy: ServicePolicy): S;
  /** A new endpoint (an EndpointState) with its connections; its breaker is set after. */
  protected abstract createEndpoint(instance: Instance): E;
  /** The endpoint's address or port changed: its connections go to the new place. */
  protected abstract endpointMoved(endpoint: E): void;
  /** The endpoint's instance is gone: close its connections once they are idle. */
  protected abstract endpointRemoved(endpoint: E): void;
  /** An invalid policy (the current one is kept); throw to refuse it instead. */
  protected abstract invalidPolicy(error: unknown, policy: ServicePolicy): void;
  /** After a changed policy was applied, before queued waiters are let in under its limits. */
  protected policyApplied(_policy: ServicePolicy, _previous: ServicePolicy | undefined): void {}
  protected breakerChanged(_endpoint: E, _state: BreakerState, _previous: BreakerState): void {}

  /** Exchanges waiting for a concurrency slot. */
  get pending(): number {
    return this.waiters.length;
  }

  has(id: string): boolean {
    return this.byId.has(id);
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
        const endpoint = this.createEndpoint(instance);
        endpoint.breaker = this.createBreaker(endpoint);
        byId.set(instance.id, endpoint);
        changed = true;
        continue;
      }
      if (existing.address !== instance.address || existing.port !== instance.port) {
        existing.address = instance.address;
        existing.port = instance.port;
        this.endpointMoved(existing);
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
          this.outlier?.uneject(existing);
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
      this.endpointRemoved(endpoint);
      changed = true;
    }
    if (!changed) return;
    this.endpoints = [...byId.values()];
    this.balancer.setEndpoints(this.endpoints);
    this.outlier?.setEndpoints(this.endpoints);
  }

  /**
   * Applies a (changed) policy without touching connections or exchanges in flight: the balancer is
   * replaced only when its kind changes, breakers, outlier detection and the budget only when their
   * options do. An invalid policy goes to `invalidPolicy` and the current one is kept.
   */
  applyPolicy(policy: ServicePolicy): void {
    const previous = this.policy as ServicePolicy | undefined;
    if (previous !== undefined && same(previous, policy)) {
      this.policy = policy;
      return;
    }
    const { clock, random } = this;
    let settings: S;
    let balancer: Balancer<E> | undefined;
    try {
      settings = this.compileSettings(policy);
      if (previous === undefined || previous.loadBalancer.kind !== policy.loadBalancer.kind) {
        balancer = createBalancer<E>(policy.loadBalancer.kind, { clock, random });
      }
    } catch (error) {
      this.invalidPolicy(error, policy);
      return;
    }
    this.policy = policy;
    this.settings = settings;
    if (balancer !== undefined) {
      balancer.setEndpoints(this.endpoints);
      this.balancer = balancer;
    }
    this.hashHeader = policy.loadBalancer.hashHeader?.toLowerCase() || undefined;
    const breakersChanged = previous === undefined || !same(previous.circuitBreaker, policy.circuitBreaker);
    const outlierChanged =
      previous === undefined || !same(previous.outlierDetection, policy.outlierDetection);
    if (outlierChanged) {
      const outlier = policy.outlierDetection;
      this.outlier = outlier.enabled
        ? createOutlierDetector<E>(
            {
              clock,
              consecutiveErrors: outlier.consecutiveErrors,
              baseEjectionTimeMs: outlier.baseEjectionTimeMs,
              maxEjectionTimeMs: outlier.maxEjectionTimeMs,
              maxEjectionPercent: outlier.maxEjectionPercent,
              onEject: () => {
                this.ejections++;
              },
            },
            this.outlier ?? undefined,
          )
        : null;
      this.outlier?.setEndpoints(this.endpoints);
    }
    // New breaker settings start every breaker closed (an operator's override, as Envoy's reload does).
    if (breakersChanged) {
      for (const endpoint of this.endpoints) endpoint.breaker = this.createBreaker(endpoint);
    }
    if (previous !== undefined && (breakersChanged || outlierChanged)) this.reEject();
    if (previous === undefined || !same(previous.retry.budget, policy.retry.budget)) {
      this.budget = createRetryBudget({
        clock,
        ratio: policy.retry.budget.ratio,
        minPerSecond: policy.retry.budget.minPerSecond,
      });
    }
    // Before waiters may start: they read what the subclass derives from the policy.
    this.policyApplied(policy, previous);
    this.limiter.setLimits(policy.concurrency);
    this.admitWaiters();
  }

  // --- the request path: no allocation ---

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

  /** A queued waiter gives up (timed out, caller gone). */
  cancelWaiter(waiter: ClusterWaiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    this.limiter.cancelPending();
  }

  /**
   * An endpoint whose circuit breaker admits the request (the admission is taken), preferring one
   * other than `exclude`; undefined with `pickFailure` set when there is none.
   */
  pick(hashKey: string | undefined, exclude: E | undefined): E | undefined {
    const endpoint = this.balancer.pick(hashKey, exclude);
    if (endpoint === undefined) {
      this.pickFailure = 'NO_HEALTHY_UPSTREAM';
      return undefined;
    }
    const breaker = endpoint.breaker;
    if (breaker === null || breaker.allowRequest()) return endpoint;
    return this.pickAdmitted(endpoint, exclude);
  }

  recordStart(endpoint: E): void {
    this.balancer.onRequestStart(endpoint);
  }

  recordSuccess(endpoint: E, latencyMs: number): void {
    endpoint.requests++;
    endpoint.breaker?.onSuccess();
    this.outlier?.onSuccess(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  /** A connect failure, reset, timeout or 5xx. */
  recordFailure(endpoint: E, latencyMs: number): void {
    endpoint.requests++;
    endpoint.failures++;
    endpoint.breaker?.onFailure();
    this.outlier?.onFailure(endpoint);
    this.balancer.onRequestEnd(endpoint, latencyMs, false);
  }

  /** The attempt ended without saying anything about the endpoint (the caller went away). */
  recordCancel(endpoint: E, latencyMs: number): void {
    endpoint.requests++;
    endpoint.breaker?.onCancel();
    this.balancer.onRequestEnd(endpoint, latencyMs, true);
  }

  /** Every queued waiter overflows (the cluster is closing). */
  protected rejectWaiters(): void {
    for (const waiter of this.waiters.splice(0)) waiter.onRejected();
  }

  /** The slow path of `pick`: the balancer's choice refused; any other admitted endpoint will do. */
  private pickAdmitted(refused: E, exclude: E | undefined): E | undefined {
    const now = this.clock.now();
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
    this.pickFailure = 'CIRCUIT_OPEN';
    return undefined;
  }

  private createBreaker(endpoint: E): CircuitBreaker | null {
    const options = this.policy.circuitBreaker;
    if (!options.enabled) return null;
    const breaker: CircuitBreaker = createCircuitBreaker({
      clock: this.clock,
      consecutiveFailures: options.consecutiveFailures,
      failureRatio: options.failureRatio,
      minRequests: options.minRequests,
      windowMs: options.windowMs,
      recoveryTimeMs: options.recoveryTimeMs,
      halfOpenProbes: options.halfOpenProbes,
      onStateChange: (state, previous) => {
        // An open breaker ejects its endpoint, so balancers skip it until it may probe again.
        if (state === 'open') ejectUntil(endpoint, breaker.openUntil);
        this.breakerChanged(endpoint, state, previous);
      },
    });
    return breaker;
  }

  /**
   * Sets each endpoint's ejection from what ejects it now (an open breaker, the outlier detector):
   * one ejected under settings just replaced (a breaker reset, detection turned off) is back at once.
   */
  private reEject(): void {
    for (const endpoint of this.endpoints) {
      endpoint.ejectedUntil = 0;
      const openUntil = endpoint.breaker?.openUntil ?? 0;
      if (openUntil > 0) ejectUntil(endpoint, openUntil);
      const outlierUntil = this.outlier?.ejectedUntil(endpoint) ?? 0;
      if (outlierUntil > 0) ejectUntil(endpoint, outlierUntil);
    }
  }

  /** After the limits changed, queued waiters that now fit start; those beyond the queue overflow. */
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
