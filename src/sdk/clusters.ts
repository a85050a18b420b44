import { type Instance, type MeshChange, ServiceNames, type ServicePolicy } from '../core/index.ts';
import { type ClusterDeps, SdkCluster } from './cluster.ts';

export interface ClusterSource {
  instancesOf(service: string): Instance[];
  policy(service: string): ServicePolicy;
  /** The names of the services that have at least one instance. */
  serviceNames(): Iterable<string>;
}

/**
 * The clusters of the services this process calls, created on first use and kept in line with the
 * watch's view: a change marks the clusters it touches stale, and a stale cluster resynchronises
 * (endpoints updated in place, policy re-applied) at its next call, or at once when calls are queued
 * on it; services never called cost nothing. Names resolve as the proxies resolve them,
 * case-insensitively (`ServiceNames`) and without a trailing dot: `Orders` and `orders.` reach
 * `orders` unless `Orders` has instances.
 */
export class ClusterSet {
  private readonly clusters = new Map<string, SdkCluster>();
  private closed = false;
  private readonly names: ServiceNames;

  constructor(
    private readonly source: ClusterSource,
    private readonly deps: ClusterDeps,
  ) {
    this.names = new ServiceNames(() => source.serviceNames());
  }

  /** The cluster for `service`, up to date with the view. */
  get(written: string): SdkCluster {
    const service = this.resolve(written);
    let cluster = this.clusters.get(service);
    if (cluster === undefined) {
      cluster = new SdkCluster(service, this.source.policy(service), this.deps);
      cluster.setInstances(this.source.instancesOf(service));
      if (!this.closed) this.clusters.set(service, cluster);
    } else if (cluster.stale) {
      cluster.stale = false;
      cluster.applyPolicy(this.source.policy(service));
      cluster.setInstances(this.source.instancesOf(service));
    }
    return cluster;
  }

  /** The view was replaced (a snapshot): everything may have changed. */
  invalidateAll(): void {
    this.names.forget();
    for (const [service, cluster] of this.clusters) this.mark(service, cluster);
  }

  invalidate(change: MeshChange): void {
    switch (change.type) {
      case 'instance.put':
        this.names.forget();
        this.mark(change.instance.service);
        // An instance that moved to another service leaves its old cluster.
        for (const cluster of this.clusters.values())
          if (cluster.has(change.instance.id)) this.mark(cluster.name, cluster);
        break;
      case 'instance.delete':
        this.names.forget();
        this.mark(change.service);
        break;
      case 'service.delete':
        this.names.forget();
        this.mark(change.name);
        break;
      case 'policy.put':
        this.mark(change.policy.service);
        break;
      case 'policy.delete':
        this.mark(change.service);
        break;
      case 'service.put':
      case 'route.put':
      case 'route.delete':
        break;
      default:
        this.invalidateAll();
    }
  }

  /** The name as written when that service has instances, else the one it stands for but for case. */
  private resolve(written: string): string {
    if (this.names.has(written)) return written;
    // An absolute DNS name (`orders.`) names the same service, as in the proxies.
    const service = written.endsWith('.') ? written.slice(0, -1) : written;
    if (this.names.has(service)) return service;
    return this.names.caseFolded(service) ?? service;
  }

  async close(): Promise<void> {
    this.closed = true;
    const clusters = [...this.clusters.values()];
    this.clusters.clear();
    await Promise.all(clusters.map((cluster) => cluster.close()));
  }

  /**
   * Marks the cluster stale. One with calls queued for a concurrency slot resynchronises at once, as
   * the proxy's clusters do: new limits let them in (or overflow them) without waiting for a next call.
   */
  private mark(service: string, cluster = this.clusters.get(service)): void {
    if (cluster === undefined) return;
    cluster.stale = true;
    if (cluster.pending > 0) this.get(service);
  }
}
