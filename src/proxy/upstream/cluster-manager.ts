import { type Clock, type Logger, type Route, ServiceNames, type ServicePolicy } from '../../core/index.ts';
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

/** Most names remembered as unknown (no instances), or as resolved, between two changes of the source. */
const MAX_NAMES = 1024;

/**
 * The clusters of one proxy, one per service, created when a request first names the service and
 * kept in line with the source: on every change each cluster's endpoints and policy are refreshed
 * (changes arriving together are applied once, at the end of the current tick).
 *
 * Service names are resolved as DNS names are, case-insensitively: the name as written when that
 * service has instances, else the service with instances whose name differs only in case (`Orders`
 * for `orders` or `ORDERS`; among several, the all-lowercase one, else the first in code-unit order).
 * A name is resolved once per change of the source and remembered, so a request costs a map lookup.
 */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  /** Names asked for since the last refresh → their cluster (the name as written may differ). */
  private readonly resolved = new Map<string, Cluster>();
  /** Names asked for that had no instance (no cluster is made for arbitrary names). */
  private readonly unknown = new Map<string, ClusterErrors>();
  private readonly names: ServiceNames;
  private readonly refreshListeners = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private readonly defaultPolicy: (service: string) => ServicePolicy;
  private scheduled = false;
  private closed = false;
  private refreshes = 0;

  constructor(private readonly deps: ClusterManagerDeps) {
    this.defaultPolicy = deps.defaultPolicy ?? defaultServicePolicy;
    this.names = new ServiceNames(() => deps.source.serviceNames());
    this.unsubscribe = deps.source.onChange(() => this.schedule());
  }

  get size(): number {
    return this.clusters.size;
  }

  /** Bumped by every refresh: a holder of a cluster from `get` asks again when it changed. */
  get generation(): number {
    return this.refreshes;
  }

  /**
   * The cluster of the service named `service` (resolved as the class comment says). Unless `create`
   * is set, a name with no instance in any case gets no cluster (undefined): outbound requests may
   * name anything; with `create`, the cluster is made under the name as written.
   */
  get(service: string, create = false): Cluster | undefined {
    const known = this.resolved.get(service);
    if (known !== undefined) return known;
    if (this.closed) return undefined;
    if (!create && this.unknown.has(service)) return undefined;
    const { source } = this.deps;
    let name = service;
    let instances = source.instancesOf(service);
    if (instances.length === 0) {
      const other = this.names.caseFolded(service);
      if (other !== undefined && other !== service) {
        name = other;
        instances = source.instancesOf(other);
      }
    }
    let cluster = this.clusters.get(name);
    if (cluster === undefined) {
      if (!create && instances.length === 0) {
        remember(this.unknown, service, clusterErrors(service));
        return undefined;
      }
      cluster = new Cluster(name, this.policyOf(name), this.deps);
      cluster.setInstances(instances);
      this.clusters.set(name, cluster);
    }
    this.unknown.delete(service);
    remember(this.resolved, service, cluster);
    return cluster;
  }

  /** The clusters made so far, in no order (a copy, for admin views; `get` may create one). */
  list(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** The canned errors for a service `get` found no cluster for. */
  errorsFor(service: string): ClusterErrors {
    return (
      this.resolved.get(service)?.errors ??
      this.clusters.get(service)?.errors ??
      this.unknown.get(service) ??
      clusterErrors(service)
    );
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
    this.resolved.clear();
    this.names.forget();
    this.refreshes++;
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

/** Sets `key` in a map of names taken from requests, emptied when it reaches MAX_NAMES. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_NAMES && !map.has(key)) map.clear();
  map.set(key, value);
}
