import type { Logger } from '../../core/index.ts';
import {
  type BreakerState,
  type Clock,
  EndpointSet,
  EndpointState,
  type Instance,
  type ResilientEndpoint,
  type ServicePolicy,
} from '../../core/index.ts';
import { type ClusterStatsHolder, statsSlots } from '../../telemetry/proxy-stats.ts';
import { type CannedResponse, type ClusterErrors, clusterErrors } from '../error-responses.ts';
import { H2SessionPool } from './h2-session-pool.ts';
import { type PoolOptions, UpstreamPool } from './pool.ts';
import { type ExchangeSettings, exchangeSettings } from './settings.ts';

export type { ClusterWaiter } from '../../core/index.ts';

/** An endpoint with what the proxy keeps per endpoint: its circuit breaker and connection pool. */
export interface UpstreamEndpoint extends ResilientEndpoint {
  pool: UpstreamPool;
  /** Share of the replies polled for that came within the window, a moving average (engine/reply-poller.ts). */
  pollHits: number;
  /** Requests sent without polling since the last one polled for. */
  pollSkips: number;
  /** The HTTP/2 sessions of an h2c cluster (made on first use; see `Cluster.h2Sessions`). */
  h2: H2SessionPool | null;
}

export interface ClusterDeps {
  clock: Clock;
  logger: Logger;
  pool?: PoolOptions;
  random?: () => number;
}

/**
 * One service as the proxy sees it (Envoy's cluster): the endpoints, balancer, breakers, outlier
 * detection, concurrency limits and retry budget of core's EndpointSet, plus a connection pool (and
 * h2c sessions) per endpoint and the policy's exchange settings (`settings`; routes with overrides
 * keep their own). `applyPolicy` swaps settings at runtime without touching connections or in-flight
 * exchanges.
 */
export class Cluster extends EndpointSet<UpstreamEndpoint, ExchangeSettings> implements ClusterStatsHolder {
  /** Bumped by every applied policy change, so cached per-route settings know to recompute. */
  version = 0;
  /** The policy's upstreamProtocol is h2c: exchanges go to the endpoints as HTTP/2 streams. */
  h2c = false;
  readonly errors: ClusterErrors;
  /** Metrics of the traffic to this cluster (per listener direction), filled on first use. */
  readonly stats = statsSlots();

  private readonly deps: ClusterDeps;

  constructor(name: string, policy: ServicePolicy, deps: ClusterDeps) {
    super(name, deps);
    this.deps = deps;
    this.errors = clusterErrors(name);
    this.applyPolicy(policy);
  }

  /** Why the last `pick` returned undefined. */
  get pickError(): CannedResponse {
    return this.pickFailure === 'CIRCUIT_OPEN' ? this.errors.circuitOpen : this.errors.noHealthy;
  }

  protected override compileSettings(policy: ServicePolicy): ExchangeSettings {
    return exchangeSettings(policy);
  }

  protected override invalidPolicy(error: unknown): void {
    this.deps.logger.warn({ err: error, service: this.name }, 'proxy: invalid policy ignored');
  }

  protected override policyApplied(policy: ServicePolicy): void {
    this.applyProtocol(policy);
    this.version++;
  }

  protected override breakerChanged(
    endpoint: UpstreamEndpoint,
    state: BreakerState,
    previous: BreakerState,
  ): void {
    this.deps.logger.debug(
      { service: this.name, endpoint: endpoint.id, state, previous },
      'proxy: circuit breaker',
    );
  }

  protected override endpointMoved(endpoint: UpstreamEndpoint): void {
    endpoint.pool.retarget();
    endpoint.h2?.retarget();
  }

  protected override endpointRemoved(endpoint: UpstreamEndpoint): void {
    endpoint.pool.close();
    endpoint.h2?.close();
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const endpoint of this.endpoints) {
      endpoint.pool.close();
      endpoint.h2?.close();
    }
  }

  protected override createEndpoint(instance: Instance): UpstreamEndpoint {
    const endpoint = new ProxyEndpoint(instance, this.deps.clock, this.deps.pool);
    if (this.closed) endpoint.pool.close();
    return endpoint;
  }
}

class ProxyEndpoint extends EndpointState implements UpstreamEndpoint {
  pool: UpstreamPool;
  h2: H2SessionPool | null = null;
  pollHits = 1;
  pollSkips = 0;

  constructor(instance: Instance, clock: Clock, options: PoolOptions | undefined) {
    super(instance);
    this.pool = new UpstreamPool(this, clock, options);
  }
}

/** An HTTP/2 session with no stream is closed after the policy's idle timeout (60 s when that is off). */
function sessionIdleMs(policy: ServicePolicy): number {
  return policy.timeout.idleMs > 0 ? policy.timeout.idleMs : 60_000;
}
