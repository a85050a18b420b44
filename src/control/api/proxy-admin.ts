/**
 * The control plane's proxy as Envoy's `/clusters` shows one: per service, each endpoint's address,
 * health, breaker, ejection, load and the outcomes the proxy recorded. Read-only.
 */
import { type Clock, MeshError, systemClock } from '../../core/index.ts';
import type { Cluster, ClusterManager, UpstreamEndpoint } from '../../proxy/index.ts';
import type { ControlRouter } from '../context.ts';
import { json } from '../http.ts';

const BASE = '/api/v1/proxy/clusters';

export interface EndpointView {
  id: string;
  address: string;
  port: number;
  /** From the registry (active health checks). */
  health: string;
  weight: number;
  zone: string | null;
  /** `closed`, `open`, `half-open`, or `disabled` when the policy turns breakers off. */
  breaker: string;
  /** Ejected by outlier detection or an open breaker, until `ejectedUntil` (epoch ms). */
  ejected: boolean;
  ejectedUntil: number | null;
  /** Whether the balancer may pick it now: eligible by health, not ejected, breaker not open. */
  inRotation: boolean;
  inFlight: number;
  /** Attempts the proxy finished on this endpoint, and how many of them failed. */
  requests: number;
  failures: number;
  /** Peak-EWMA latency the balancer sees; null before the first response. */
  latencyMs: number | null;
  connections: { open: number; idle: number };
}

export interface ClusterView {
  service: string;
  balancer: string;
  inFlight: number;
  pending: number;
  limits: { maxInFlight: number; maxPending: number };
  endpoints: EndpointView[];
}

export function registerProxyAdminRoutes(
  router: ControlRouter,
  clusters: ClusterManager,
  clock: Clock = systemClock,
): void {
  router
    .add('GET', BASE, () =>
      json({
        clusters: clusters
          .list()
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
          .map((cluster) => describeCluster(cluster, clock.now())),
      }),
    )

    .add('GET', `${BASE}/:service`, ({ params }) => {
      const cluster = clusters.list().find((candidate) => candidate.name === params.service);
      if (cluster === undefined) {
        throw new MeshError(
          'NOT_FOUND',
          `the proxy has no cluster for "${params.service}" (one is made when a request first names the service)`,
        );
      }
      return json(describeCluster(cluster, clock.now()));
    });
}

export function describeCluster(cluster: Cluster, now: number): ClusterView {
  const eligible = new Set(cluster.balancer.eligible);
  return {
    service: cluster.name,
    balancer: cluster.policy.loadBalancer.kind,
    inFlight: cluster.limiter.inFlight,
    pending: cluster.pending,
    limits: { ...cluster.policy.concurrency },
    endpoints: cluster.endpoints.map((endpoint) => describeEndpoint(endpoint, eligible.has(endpoint), now)),
  };
}

function describeEndpoint(endpoint: UpstreamEndpoint, eligible: boolean, now: number): EndpointView {
  const breaker = endpoint.breaker === null ? 'disabled' : endpoint.breaker.state;
  const ejected = endpoint.ejectedUntil > now;
  return {
    id: endpoint.id,
    address: endpoint.address,
    port: endpoint.port,
    health: endpoint.health,
    weight: endpoint.weight,
    zone: endpoint.zone ?? null,
    breaker,
    ejected,
    ejectedUntil: ejected ? endpoint.ejectedUntil : null,
    inRotation: eligible && !ejected && breaker !== 'open',
    inFlight: endpoint.inFlight,
    requests: endpoint.requests,
    failures: endpoint.failures,
    latencyMs: endpoint.ewmaMs >= 0 ? Math.round(endpoint.ewmaMs * 1000) / 1000 : null,
    connections: { open: endpoint.pool.open, idle: endpoint.pool.idleCount },
  };
}
