import type { Clock, Logger, Route, ServicePolicy } from '../../core/index.ts';
import type { DiscoverySource } from '../discovery/index.ts';
import { type ClusterErrors, clusterErrors } from '../error-responses.ts';
import { Cluster } from './cluster.ts';
import { defaultServicePolicy } from './default-policy.ts';
import type { PoolOptions } from './pool.ts';

export interface ClusterManagerDeps {
  source: DiscoverySource;
  clock: Clock;
  logger: Logger;
  /** Policy for services the source has none for (default: `defaultServicePolicy`). */
  defaultPolicy?: (service: string) => ServicePolicy;
  pool?: PoolOptions;
  random?: () => number;
}

/** Most services remembered as unknown (no instances) between two changes of the source. */
const MAX_UNKNOWN = 1024;

/**
 * The clusters of one proxy, one per service, created when a request first names the service and
 * kept in line with the source: on every change each cluster's endpoints and policy are refreshed
 * (changes arriving together are applied once, at the end of the current tick).
 */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  /** Services asked for that had no instance (no cluster is made for arbitrary names). */
  private readonly unknown = new Map<string, ClusterErrors>();
  private readonly refreshListeners = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private readonly defaultPolicy: (service: string) => ServicePolicy;
  private scheduled = false;
  private closed = false;

  constructor(private readonly deps: ClusterManagerDeps) {
    this.defaultPolicy = deps.defaultPolicy ?? defaultServicePolicy;
    this.unsubscribe = deps.source.onChange(() => this.schedule());
  }

  get size(): number {
    return this.clusters.size;
  }

  /**
   * The service's cluster. Unless `create` is set, a service with no instance at all gets no cluster
   * (undefined): outbound requests may name anything.
   */
  get(service: string, create = false): Cluster | undefined {
    const existing = this.clusters.get(service);
    if (existing !== undefined) return existing;
    if (this.closed) return undefined;
    if (!create && this.unknown.has(service)) return undefined;
    const instances = this.deps.source.instancesOf(service);
    if (!create && instances.length === 0) {
      if (this.unknown.size >= MAX_UNKNOWN) this.unknown.clear();
      this.unknown.set(service, clusterErrors(service));
      return undefined;
    }
    const cluster = new Cluster(service, this.policyOf(service), this.deps);
    cluster.setInstances(instances);
    this.clusters.set(service, cluster);
    this.unknown.delete(service);
    return cluster;
  }

  /** The clusters made so far, in no order (a copy, for admin views; `get` may create one). */
  list(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** The canned errors for a service `get` found no cluster for. */
  errorsFor(service: string): ClusterErrors {
    return this.clusters.get(service)?.errors ?? this.unknown.get(service) ?? clusterErrors(service);
  }

  policyOf(service: string): ServicePolicy {
    return this.deps.source.policy(service) ?? this.defaultPolicy(service);
  }

  routes(): readonly Route[] {
    return this.deps.source.routes();
  }

  /** Called after every refresh (routes may have changed); returns the unsubscribe function. */
  onRefresh(listener: () => void): () => void {
    this.refreshListeners.add(listener);
    return () => {
      this.refreshListeners.delete(listener);
    };
  }

  /** Applies the source's current state to every cluster now. */
  refresh(): void {
    if (this.closed) return;
    const { source, logger } = this.deps;
    this.unknown.clear();
    for (const [service, cluster] of this.clusters) {
      try {
        cluster.setInstances(source.instancesOf(service));
        cluster.applyPolicy(this.policyOf(service));
      } catch (error) {
        logger.error({ err: error, service }, 'proxy: refreshing a cluster failed');
      }
    }
    for (const listener of [...this.refreshListeners]) {
      try {
        listener();
      } catch (error) {
        logger.error({ err: error }, 'proxy: a refresh listener failed');
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    for (const cluster of this.clusters.values()) cluster.close();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.refresh();
    });
  }
}
