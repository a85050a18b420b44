/** The last-known registry as a watcher rebuilds it from one snapshot and the changes after it. */
import type { Instance, MeshChange, MeshSnapshot, Service } from '../core/index.ts';

export interface MeshView {
  /** Undefined until the first snapshot. */
  revision(): number | undefined;
  /** The whole view as a snapshot; the same object until the next change. */
  snapshot(): MeshSnapshot | undefined;
  service(name: string): Service | undefined;
  instance(id: string): Instance | undefined;
  /** Instances of one service, in no particular order. */
  instancesOf(service: string): Instance[];
  /** Replaces everything with a snapshot. */
  reset(snapshot: MeshSnapshot): void;
  /** Applies one change; returns false (and changes nothing) when it is older than the view. */
  apply(change: MeshChange): boolean;
}

export function createMeshView(): MeshView {
  let revision: number | undefined;
  const services = new Map<string, Service>();
  const instances = new Map<string, Instance>();
  const byService = new Map<string, Map<string, Instance>>();
  let cached: MeshSnapshot | undefined;

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

  return {
    revision: () => revision,
    snapshot() {
      if (revision === undefined) return undefined;
      cached ??= { revision, services: [...services.values()], instances: [...instances.values()] };
      return cached;
    },
    service: (name) => services.get(name),
    instance: (id) => instances.get(id),
    instancesOf: (service) => [...(byService.get(service)?.values() ?? [])],
    reset(snapshot) {
      services.clear();
      instances.clear();
      byService.clear();
      for (const service of snapshot.services) services.set(service.name, service);
      for (const instance of snapshot.instances) putInstance(instance);
      revision = snapshot.revision;
      cached = undefined;
    },
    apply(change) {
      if (revision === undefined || change.revision < revision) return false;
      switch (change.type) {
        case 'service.put':
          services.set(change.service.name, change.service);
          break;
        case 'service.delete':
          services.delete(change.name);
          // Deleting a service deletes its instances; do it here too in case their events are folded in.
          for (const id of [...(byService.get(change.name)?.keys() ?? [])]) deleteInstance(id);
          break;
        case 'instance.put':
          putInstance(change.instance);
          break;
        case 'instance.delete':
          deleteInstance(change.id);
          break;
      }
      revision = change.revision;
      cached = undefined;
      return true;
    },
  };
}
