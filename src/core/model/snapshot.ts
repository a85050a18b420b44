import type { Instance } from './instance.ts';
import type { Route, ServicePolicy } from './policy.ts';
import type { Service } from './service.ts';

/** A consistent view of the registry at one store revision. */
export interface MeshSnapshot {
  revision: number;
  /**
   * The identity of the store `revision` counts in; a resumed watch sends it back. Absent from
   * control planes older than it (and from views built by hand).
   */
  storeId?: string;
  services: Service[];
  instances: Instance[];
  /** Only services whose policy was set; the others use the defaults. */
  policies: ServicePolicy[];
  routes: Route[];
}

/** One change to the registry, in store order. */
export type MeshChange =
  | { type: 'service.put'; revision: number; service: Service }
  | { type: 'service.delete'; revision: number; name: string }
  | { type: 'instance.put'; revision: number; instance: Instance }
  | { type: 'instance.delete'; revision: number; id: string; service: string }
  | { type: 'policy.put'; revision: number; policy: ServicePolicy }
  | { type: 'policy.delete'; revision: number; service: string }
  | { type: 'route.put'; revision: number; route: Route }
  | { type: 'route.delete'; revision: number; name: string };
