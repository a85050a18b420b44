import type { InstanceRegistration, ServiceDefinition } from '../config/index.ts';
import type { HealthState, Instance, MeshChange, MeshSnapshot, Service } from '../core/index.ts';

export interface ServiceSummary extends Service {
  instances: Record<HealthState, number>;
}

export interface InstanceFilter {
  service?: string;
  health?: HealthState[];
  tag?: string;
}

export interface ChangeSubscription {
  close(): void;
}

/**
 * Services and instances on top of a Store. Reads are served from an in-memory view kept current
 * by a store watch; every write resolves only after the view has caught up with it, so a client
 * that registers and then lists on the same control plane sees its own write.
 */
export interface Registry {
  upsertService(definition: ServiceDefinition): Promise<Service>;
  /** Deletes a service and all its instances. */
  deleteService(name: string): Promise<boolean>;
  registerInstance(registration: InstanceRegistration): Promise<Instance>;
  deregisterInstance(id: string): Promise<boolean>;
  /** Records a heartbeat for an instance with a TTL check; throws INSTANCE_NOT_FOUND. */
  heartbeat(id: string): Promise<void>;
  /** Written by the health checker; only writes on a change of state. */
  setHealth(id: string, health: HealthState, output?: string): Promise<void>;

  getService(name: string): Service | undefined;
  listServices(): ServiceSummary[];
  getInstance(id: string): Instance | undefined;
  listInstances(filter?: InstanceFilter): Instance[];
  snapshot(): MeshSnapshot;
  /** The store revision the view reflects. */
  revision(): number;
  /**
   * Delivers every change after `afterRevision` (default: now) in order. Throws COMPACTED when the
   * registry no longer holds changes that old; take a snapshot instead.
   */
  subscribe(listener: (change: MeshChange) => void, afterRevision?: number): ChangeSubscription;
  subscriberCount(): number;
  close(): Promise<void>;
}
