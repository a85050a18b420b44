import type { InstanceRegistration, RouteDefinition, ServiceDefinition } from '../config/index.ts';
import type {
  HealthState,
  Instance,
  MeshChange,
  MeshSnapshot,
  Route,
  Service,
  ServicePolicy,
} from '../core/index.ts';

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
 * Services, instances, service policies and gateway routes on top of a Store. Reads are served from an in-memory view kept current
 * by a store watch; every write resolves only after the view has caught up with it, so a client
 * that registers and then lists on the same control plane sees its own write.
 */
export interface Registry {
  upsertService(definition: ServiceDefinition): Promise<Service>;
  /** Deletes a service, all its instances and its policy. */
  deleteService(name: string): Promise<boolean>;
  registerInstance(registration: InstanceRegistration): Promise<Instance>;
  deregisterInstance(id: string): Promise<boolean>;
  /** Records a heartbeat for an instance with a TTL check; throws INSTANCE_NOT_FOUND. */
  heartbeat(id: string): Promise<void>;
  /** Written by the health checker; only writes on a change of state. */
  setHealth(id: string, health: HealthState, output?: string): Promise<void>;

  /**
   * Stores a service's policy (already resolved: see `resolvePolicy` in config), replacing any
   * other; creates the service when it does not exist yet, as `registerInstance` does.
   */
  setPolicy(service: string, policy: ServicePolicy): Promise<ServicePolicy>;
  /**
   * Read-modify-write of a service's policy with compare-on-revision: `change` gets the current
   * effective policy (stored or defaults) and may be called again if another writer got there first.
   * Whatever `change` throws is thrown and nothing is written. Creates the service like `setPolicy`.
   */
  updatePolicy(service: string, change: (current: ServicePolicy) => ServicePolicy): Promise<ServicePolicy>;
  /** Removes a stored policy, so the service is back on the defaults; false if none was stored. */
  deletePolicy(service: string): Promise<boolean>;
  /** Adds or replaces a route; a replaced route keeps its `createdAt`. */
  putRoute(route: RouteDefinition): Promise<Route>;
  /** Adds a route; throws CONFLICT when one with that name exists. */
  createRoute(route: RouteDefinition): Promise<Route>;
  deleteRoute(name: string): Promise<boolean>;

  getService(name: string): Service | undefined;
  /** The stored policy, or the defaults resolved for that service. */
  getPolicy(service: string): ServicePolicy;
  /** Whether a policy was stored for the service (else it runs on the defaults). */
  hasPolicy(service: string): boolean;
  /** Stored policies only, by service name. */
  listPolicies(): ServicePolicy[];
  getRoute(name: string): Route | undefined;
  /** By priority (highest first), then name. */
  listRoutes(): Route[];
  listServices(): ServiceSummary[];
  getInstance(id: string): Instance | undefined;
  listInstances(filter?: InstanceFilter): Instance[];
  snapshot(): MeshSnapshot;
  /** The store revision the view reflects. */
  revision(): number;
  /**
   * The store's identity (see store-id.ts): revisions from a store with another id are not
   * comparable with this one's, so a watch resuming with another id gets a snapshot.
   */
  storeId(): string;
  /**
   * Delivers every change after `afterRevision` (default: now) in order. Throws COMPACTED when the
   * registry no longer holds changes that old; take a snapshot instead.
   */
  subscribe(listener: (change: MeshChange) => void, afterRevision?: number): ChangeSubscription;
  subscriberCount(): number;
  close(): Promise<void>;
}
