/** The last-known registry as a watcher rebuilds it from one snapshot and the changes after it. */
import type { Instance, MeshChange, MeshSnapshot, Route, Service, ServicePolicy } from '../core/index.ts';

export interface MeshView {
  /** Undefined until the first snapshot. */
  revision(): number | undefined;
  /** The store the revision counts in, from the last snapshot; undefined from an older control plane. */
  storeId(): string | undefined;
  /** The whole view as a snapshot; the same object until the next change. */
  snapshot(): MeshSnapshot | undefined;
  service(name: string): Service | undefined;
  instance(id: string): Instance | undefined;
  /** Instances of one service, in no particular order. */
  instancesOf(service: string): Instance[];
  /** The names of the services with at least one instance (a live view: do not keep it across changes). */
  serviceNames(): Iterable<string>;
  /** The service's stored policy; undefined when it runs on the defaults. */
  policy(service: string): ServicePolicy | undefined;
  /** Every gateway route, in no particular order; the same array until the routes change. */
  routes(): Route[];
  /** Replaces everything with a snapshot (of this store or another). */
  reset(snapshot: MeshSnapshot): void;
  /** Applies one change; returns false (and changes nothing) when it is older than the view. */
  apply(change: MeshChange): boolean;
}

export function createMeshView(): MeshView {
  let revision: number | undefined;
  let storeId: string | undefined;
  const services = new Map<string, Service>();
  const instances = new Map<string, Instance>();
  const byService = new Map<string, Map<string, Instance>>();
  const policies = new Map<string, ServicePolicy>();
  const routes = new Map<string, Route>();
  let cached: MeshSnapshot | undefined;
  let routeList: Route[] | undefined;

  function putInstance(instance: Instance): void {
    const previous = instances.get(instance.id);
    if (previous && previous.service !== instance.service)
      byService.get(previous.service)?.delete(instance.id);
    instances.set(instance.id, instance);
    const group = byService.get(instance.service) ?? new Map<string, Instance>();
    byService.set(instance.service, group);
    group.set(instance.id, instance);
  }

  function deleteInstance(id: string): void {
    const previous = instances.get(id);
    if (!previous) return;
    instances.delete(id);
    const group = byService.get(previous.service);
    group?.delete(id);
    if (group?.size === 0) byService.delete(previous.service);
  }

  function currentRoutes(): Route[] {
    routeList ??= [...routes.values()];
    return routeList;
  }

  return {
    revision: () => revision,
    storeId: () => storeId,
    snapshot() {
      if (revision === undefined) return undefined;
      cached ??= {
        revision,
        ...(storeId === undefined ? {} : { storeId }),
        services: [...services.values()],
        instances: [...instances.values()],
        policies: [...policies.values()],
        routes: currentRoutes(),
      };
      return cached;
    },
    service: (name) => services.get(name),
    instance: (id) => instances.get(id),
    instancesOf: (service) => [...(byService.get(service)?.values() ?? [])],
    serviceNames: () => byService.keys(),
    policy: (service) => policies.get(service),
    routes: currentRoutes,
    reset(snapshot) {
      services.clear();
      instances.clear();
      byService.clear();
      policies.clear();
      routes.clear();
      for (const service of snapshot.services) services.set(service.name, service);
      for (const instance of snapshot.instances) putInstance(instance);
      // A control plane older than policies and routes sends neither.
      for (const policy of snapshot.policies ?? []) policies.set(policy.service, policy);
      for (const route of snapshot.routes ?? []) routes.set(route.name, route);
      revision = snapshot.revision;
      storeId = typeof snapshot.storeId === 'string' ? snapshot.storeId : undefined;
      cached = undefined;
      routeList = undefined;
    },
    apply(change) {
      if (revision === undefined || change.revision < revision) return false;
      switch (change.type) {
        case 'service.put':
          services.set(change.service.name, change.service);
          break;
        case 'service.delete':
          services.delete(change.name);
          // Deleting a service deletes its instances and policy; do it here too in case their events are folded in.
          for (const id of [...(byService.get(change.name)?.keys() ?? [])]) deleteInstance(id);
          policies.delete(change.name);
          break;
        case 'instance.put':
          putInstance(change.instance);
          break;
        case 'instance.delete':
          deleteInstance(change.id);
          break;
        case 'policy.put':
          policies.set(change.policy.service, change.policy);
          break;
        case 'policy.delete':
          policies.delete(change.service);
          break;
        case 'route.put':
          routes.set(change.route.name, change.route);
          routeList = undefined;
          break;
        case 'route.delete':
          routes.delete(change.name);
          routeList = undefined;
          break;
      }
      revision = change.revision;
      cached = undefined;
      return true;
    },
  };
}
