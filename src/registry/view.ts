import type { Logger } from 'pino';
import type { Instance, MeshChange, Route, Service, ServicePolicy } from '../core/index.ts';
import type { KeyValue, LeaseId, WatchEvent } from '../store/index.ts';
import type { RegistryKeys } from './keys.ts';
import { decodeInstance, decodePolicy, decodeRoute, decodeService } from './records.ts';

export interface Versioned<T> {
  value: T;
  modRevision: number;
}

interface Heartbeat {
  service: string;
  lease: LeaseId | undefined;
}

/**
 * The registry's in-memory copy of its part of the store, indexed by instance id and by service.
 * It turns store events into MeshChanges; it does no I/O.
 */
export class RegistryView {
  readonly services = new Map<string, Versioned<Service>>();
  readonly instances = new Map<string, Versioned<Instance>>();
  /** Only services whose policy was set. */
  readonly policies = new Map<string, Versioned<ServicePolicy>>();
  readonly routes = new Map<string, Versioned<Route>>();
  private readonly byService = new Map<string, Map<string, Instance>>();
  private readonly heartbeats = new Map<string, Heartbeat>();

  constructor(
    private readonly keys: RegistryKeys,
    private readonly logger: Logger,
  ) {}

  load(items: KeyValue[]): void {
    for (const kv of items) this.apply({ type: 'put', kv });
  }

  instancesOf(service: string): Iterable<Instance> {
    return this.byService.get(service)?.values() ?? [];
  }

  serviceNames(): Iterable<string> {
    return new Set([...this.services.keys(), ...this.byService.keys()]);
  }

  /** The lease behind an instance's live heartbeat key, if it has one. */
  heartbeatLease(id: string): LeaseId | undefined {
    return this.heartbeats.get(id)?.lease;
  }

  /** Applies one event; returns the change it makes to the mesh, if any. */
  apply(event: WatchEvent): MeshChange | undefined {
    const key = event.type === 'put' ? event.kv.key : event.key;
    const parsed = this.keys.parse(key);
    if (!parsed) return undefined;

    if (parsed.kind === 'heartbeat') {
      const { id, service } = parsed;
      if (event.type === 'put') this.heartbeats.set(id, { service, lease: event.kv.lease });
      else if (this.heartbeats.get(id)?.service === service) this.heartbeats.delete(id);
      return undefined;
    }

    if (parsed.kind === 'policy') {
      const { service } = parsed;
      if (event.type === 'delete') {
        if (!this.policies.delete(service)) return undefined;
        return { type: 'policy.delete', revision: event.modRevision, service };
      }
      const policy = decodePolicy(event.kv.value, service);
      if (!policy) return this.corrupt(key);
      this.policies.set(service, { value: policy, modRevision: event.kv.modRevision });
      return { type: 'policy.put', revision: event.kv.modRevision, policy };
    }

    if (parsed.kind === 'route') {
      const { name } = parsed;
      if (event.type === 'delete') {
        if (!this.routes.delete(name)) return undefined;
        return { type: 'route.delete', revision: event.modRevision, name };
      }
      const route = decodeRoute(event.kv.value, name);
      if (!route) return this.corrupt(key);
      this.routes.set(name, { value: route, modRevision: event.kv.modRevision });
      return { type: 'route.put', revision: event.kv.modRevision, route };
    }

    if (parsed.kind === 'service') {
      if (event.type === 'delete') {
        if (!this.services.delete(parsed.name)) return undefined;
        return { type: 'service.delete', revision: event.modRevision, name: parsed.name };
      }
      const service = decodeService(event.kv.value, parsed.name);
      if (!service) return this.corrupt(key);
      this.services.set(parsed.name, { value: service, modRevision: event.kv.modRevision });
      return { type: 'service.put', revision: event.kv.modRevision, service };
    }

    const { service, id } = parsed;
    if (event.type === 'delete') {
      // An id moved to another service must not be dropped by the old key's delete.
      if (this.instances.get(id)?.value.service !== service) return undefined;
      this.removeInstance(id, service);
      return { type: 'instance.delete', revision: event.modRevision, id, service };
    }
    const instance = decodeInstance(event.kv.value, service, id);
    if (!instance) return this.corrupt(key);
    const previous = this.instances.get(id)?.value;
    if (previous && previous.service !== service) this.removeInstance(id, previous.service);
    this.instances.set(id, { value: instance, modRevision: event.kv.modRevision });
    const members = this.byService.get(service) ?? new Map<string, Instance>();
    this.byService.set(service, members);
    members.set(id, instance);
    return { type: 'instance.put', revision: event.kv.modRevision, instance };
  }

  /**
   * Replaces this view's content with a fresh list and returns the difference as changes at that
   * list's revision (used after a watch broke and the registry listed again).
   */
  replace(items: KeyValue[], revision: number): MeshChange[] {
    const next = new RegistryView(this.keys, this.logger);
    next.load(items);
    const changes: MeshChange[] = [];
    for (const [name, entry] of next.services) {
      if (this.services.get(name)?.modRevision !== entry.modRevision) {
        changes.push({ type: 'service.put', revision, service: entry.value });
      }
    }
    for (const [id, entry] of next.instances) {
      if (this.instances.get(id)?.modRevision !== entry.modRevision) {
        changes.push({ type: 'instance.put', revision, instance: entry.value });
      }
    }
    for (const [id, entry] of this.instances) {
      const now = next.instances.get(id);
      if (!now || now.value.service !== entry.value.service) {
        changes.push({ type: 'instance.delete', revision, id, service: entry.value.service });
      }
    }
    for (const [service, entry] of next.policies) {
      if (this.policies.get(service)?.modRevision !== entry.modRevision) {
        changes.push({ type: 'policy.put', revision, policy: entry.value });
      }
    }
    for (const service of this.policies.keys()) {
      if (!next.policies.has(service)) changes.push({ type: 'policy.delete', revision, service });
    }
    for (const [name, entry] of next.routes) {
      if (this.routes.get(name)?.modRevision !== entry.modRevision) {
        changes.push({ type: 'route.put', revision, route: entry.value });
      }
    }
    for (const name of this.routes.keys()) {
      if (!next.routes.has(name)) changes.push({ type: 'route.delete', revision, name });
    }
    for (const name of this.services.keys()) {
      if (!next.services.has(name)) changes.push({ type: 'service.delete', revision, name });
    }
    this.copyFrom(next);
    return changes;
  }

  private copyFrom(other: RegistryView): void {
    for (const field of ['services', 'instances', 'policies', 'routes', 'byService', 'heartbeats'] as const) {
      const target = this[field] as Map<string, unknown>;
      target.clear();
      for (const [key, value] of other[field] as Map<string, unknown>) target.set(key, value);
    }
  }

  private removeInstance(id: string, service: string): void {
    this.instances.delete(id);
    const members = this.byService.get(service);
    members?.delete(id);
    if (members?.size === 0) this.byService.delete(service);
  }

  private corrupt(key: string): undefined {
    this.logger.warn({ key }, 'registry: ignoring an unreadable value in the store');
    return undefined;
  }
}
