import type { Logger } from 'pino';
import { type Dispatcher, H2CClient, Pool } from 'undici';
import {
  type BreakerState,
  type Clock,
  createRetryPolicy,
  EndpointSet,
  EndpointState,
  type Instance,
  MeshError,
  type ResilientEndpoint,
  type RetryPolicy,
  type ServicePolicy,
} from '../core/index.ts';

export type { ClusterWaiter } from '../core/index.ts';

/** An endpoint with what the SDK keeps per endpoint: its circuit breaker and connection pool. */
export interface SdkEndpoint extends ResilientEndpoint {
  pool: Pool;
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
 * One service as the SDK sees it: the endpoints, balancer, breakers, outlier detection, concurrency
 * limits and retry budget of core's EndpointSet (the proxy's Cluster is built on it too), with an
 * undici Pool (keep-alive) per endpoint and the policy's retry policy as its settings.
 */
export class SdkCluster extends EndpointSet<SdkEndpoint, RetryPolicy> {
  /** Set by the view's change notifications; the next call resynchronises. */
  stale = false;

  private readonly deps: ClusterDeps;
  /** The policy's upstreamProtocol is h2c: the endpoints are reached over HTTP/2 cleartext. */
  private h2c = false;

  constructor(name: string, policy: ServicePolicy, deps: ClusterDeps) {
    super(name, deps);
    this.deps = deps;
    this.applyPolicy(policy);
  }

  get retry(): RetryPolicy {
    return this.settings;
  }

  /**
   * An endpoint whose circuit breaker admits the request (the admission is taken), preferring one
   * other than `exclude`. Throws NO_HEALTHY_UPSTREAM or CIRCUIT_OPEN when there is none.
   */
  override pick(hashKey: string | undefined, exclude: SdkEndpoint | undefined): SdkEndpoint {
    const endpoint = super.pick(hashKey, exclude);
    if (endpoint !== undefined) return endpoint;
    const failure = this.pickFailure;
    const total = this.endpoints.length;
    const instances = failure === 'CIRCUIT_OPEN' ? this.balancer.eligible.length : total;
    const message =
      failure === 'CIRCUIT_OPEN'
        ? `every eligible instance of "${this.name}" has an open circuit breaker`
        : total === 0
          ? `service "${this.name}" has no instances`
          : `service "${this.name}" has no healthy or degraded instance (${total} registered)`;
    throw new MeshError(failure, message, { details: [{ message, service: this.name, instances }] });
  }

  /** Closes every connection; waits at most `graceMs` for requests in flight. */
  async close(graceMs = 1_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectWaiters();
    await Promise.all(this.endpoints.map((endpoint) => closePool(endpoint.pool, graceMs)));
  }

  protected override compileSettings(policy: ServicePolicy): RetryPolicy {
    return createRetryPolicy({
      retryOn: policy.retry.retryOn,
      maxAttempts: policy.retry.maxAttempts,
      perTryTimeoutMs: policy.retry.perTryTimeoutMs,
      retriableStatusCodes: policy.retry.retriableStatusCodes,
      maxBufferedBodyBytes: policy.retry.maxBufferedBodyBytes,
      backoffBaseMs: policy.retry.backoffBaseMs,
      backoffCapMs: policy.retry.backoffMaxMs,
    });
  }

  /** A switch between http1 and h2c gives every endpoint a new pool; the old ones finish their requests. */
  protected override policyApplied(policy: ServicePolicy): void {
    const h2c = policy.upstreamProtocol === 'h2c';
    if (h2c === this.h2c) return;
    this.h2c = h2c;
    for (const endpoint of this.endpoints) this.replacePool(endpoint);
  }

  protected override invalidPolicy(error: unknown): void {
    if ((this.policy as ServicePolicy | undefined) === undefined) throw error;
    this.deps.logger.warn({ err: error, service: this.name }, 'mesh sdk: invalid policy ignored');
  }

  protected override breakerChanged(
    endpoint: SdkEndpoint,
    state: BreakerState,
    previous: BreakerState,
  ): void {
    this.deps.logger.debug(
      { service: this.name, endpoint: endpoint.id, state, previous },
      'mesh sdk: circuit breaker',
    );
  }

  protected override createEndpoint(instance: Instance): SdkEndpoint {
    const endpoint = new SdkEndpointState(instance);
    endpoint.pool = this.createPool(endpoint);
    return endpoint;
  }

  protected override endpointMoved(endpoint: SdkEndpoint): void {
    this.replacePool(endpoint);
  }

  protected override endpointRemoved(endpoint: SdkEndpoint): void {
    // In-flight requests finish; the pool then closes its connections.
    void endpoint.pool.close().catch(() => {});
  }

  /** A new pool for the endpoint; the old one closes once its requests are done. */
  private replacePool(endpoint: SdkEndpoint): void {
    void endpoint.pool.close().catch(() => {});
    endpoint.pool = this.createPool(endpoint);
  }

  private createPool(endpoint: SdkEndpoint): Pool {
    const keepAliveTimeout = this.deps.keepAliveTimeoutMs ?? 4_000;
    const connectTimeout = this.deps.connectTimeoutMs ?? 5_000;
    const pool = this.h2c
      ? // One HTTP/2 prior-knowledge session per endpoint carries the requests as streams, as the proxy's does.
        new Pool(originOf(endpoint), {
          connections: 1,
          factory: (origin): Dispatcher => new H2CClient(origin, { keepAliveTimeout, connectTimeout }),
        })
      : new Pool(originOf(endpoint), { keepAliveTimeout, connect: { timeout: connectTimeout } });
    if (this.closed) void pool.close().catch(() => {});
    return pool;
  }
}

class SdkEndpointState extends EndpointState implements SdkEndpoint {
  pool!: Pool;
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
