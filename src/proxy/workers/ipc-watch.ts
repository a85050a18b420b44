import { createMeshView } from '../../client/index.ts';
import type { MeshChange, MeshSnapshot } from '../../core/index.ts';
import type { MeshWatchLike } from '../discovery/index.ts';

/** A worker's view of the mesh, fed by the primary (which holds the one watch on the control plane). */
export interface IpcWatch extends MeshWatchLike {
  reset(snapshot: MeshSnapshot): void;
  apply(change: MeshChange): void;
  subscribe(listener: () => void): () => void;
}

export function createIpcWatch(): IpcWatch {
  const view = createMeshView();
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  return {
    view: () => view.snapshot(),
    revision: () => view.revision(),
    instancesOf: (service) => view.instancesOf(service),
    policy: (service) => view.policy(service),
    routes: () => view.routes(),
    reset(snapshot) {
      view.reset(snapshot);
      changed();
    },
    apply(change) {
      if (view.apply(change)) changed();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
