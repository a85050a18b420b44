/**
 * What the alert evaluator reads on a control-plane node: unhealthy instances from the registry,
 * open circuits from the clusters of a proxy running in this process, error rate and p99 from the
 * mesh statistics. A source that is not there answers "no data", so its rules never fire.
 */
import type { Registry } from '../registry/index.ts';
import type { AlertInputs } from '../telemetry/alert-rules.ts';

/** Request statistics over a sliding window (mesh-wide when `service` is undefined). */
export interface WindowedStats {
  /** 0-1; undefined without requests in the window. */
  errorRate(service: string | undefined, windowMs: number): number | undefined;
  /** Milliseconds; undefined without requests in the window. */
  p99(service: string | undefined, windowMs: number): number | undefined;
}

/** One proxy cluster as far as circuits go: its service and each endpoint's breaker (null: off). */
export interface CircuitCluster {
  readonly name: string;
  readonly endpoints: ReadonlyArray<{ readonly breaker: { readonly state: string } | null }>;
}

export interface AlertInputSources {
  registry: Pick<Registry, 'listInstances'>;
  /** The clusters of the in-process proxy (gateway), if this node runs one. */
  clusters?: () => Iterable<CircuitCluster>;
  stats?: WindowedStats;
}

export function createAlertInputs(sources: AlertInputSources): AlertInputs {
  const { registry, clusters, stats } = sources;
  return {
    errorRate: (service, windowMs) => stats?.errorRate(service, windowMs),
    p99: (service, windowMs) => stats?.p99(service, windowMs),
    unhealthyInstances: (service) => registry.listInstances({ service, health: ['unhealthy'] }).length,
    openCircuits: (service) => (clusters ? countOpenCircuits(clusters(), service) : undefined),
  };
}

/**
 * Endpoints whose breaker is not closed: open, or half-open (still probing, not yet trusted again).
 * Reading `state` also moves an open breaker past its recovery time to half-open, as a request would.
 */
export function countOpenCircuits(clusters: Iterable<CircuitCluster>, service: string | undefined): number {
  let open = 0;
  for (const cluster of clusters) {
    if (service !== undefined && cluster.name !== service) continue;
    for (const endpoint of cluster.endpoints) {
      if (endpoint.breaker !== null && endpoint.breaker.state !== 'closed') open++;
    }
  }
  return open;
}
