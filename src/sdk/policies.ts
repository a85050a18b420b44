import { defaultPolicy } from '../config/index.ts';
import type { ServicePolicy } from '../core/index.ts';

/** The part of the client's MeshWatch the policy lookup reads. */
export interface PolicyView {
  /** The service's stored policy; undefined when it runs on the defaults. */
  policy(service: string): ServicePolicy | undefined;
}

/**
 * The effective policy of a service, as every proxy applies it: the one stored for it in the mesh
 * (already resolved over the defaults by the control plane), else the defaults from config.
 */
export function createPolicyLookup(watch: PolicyView): (service: string) => ServicePolicy {
  return (service) => watch.policy(service) ?? defaultPolicy(service);
}
