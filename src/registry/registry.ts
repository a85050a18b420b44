import type { Logger } from 'pino';
import type { InstanceRegistration, RouteDefinition, ServiceDefinition } from '../config/index.ts';
import { defaultPolicy } from '../config/index.ts';
import {
  type Clock,
  HEALTH_STATES,
  type HealthState,
  type Instance,
  isMeshError,
  type MeshChange,
  MeshError,
  type MeshSnapshot,
  type Route,
  type Service,
  type ServicePolicy,
  systemClock,
  type TimerHandle,
} from '../core/index.ts';
import type { KeyValue, Store, Watch, WatchEvent } from '../store/index.ts';
import { ChangeLog } from './change-log.ts';
import { type RegistryKeys, registryKeys } from './keys.ts';
import {
  buildInstance,
  buildRoute,
  buildService,
  decodeInstance,
  decodePolicy,
  decodeRoute,
  decodeService,
  specFromRegistration,
} from './records.ts';
import { RevisionWaiters } from './revision-waiters.ts';
import { ensureStoreId } from './store-id.ts';
import type { ChangeSubscription, InstanceFilter, Registry, ServiceSummary } from './types.ts';
import { RegistryView, type Versioned } from './view.ts';

export interface RegistryOptions {
  store: Store;
  logger: Logger;
  clock?: Clock;
  /** Root of the registry's keys; default `/trellis/`. */
  keyPrefix?: string;
  /** How many recent changes `subscribe(…, afterRevision)` can replay; default 10,000. */
  historySize?: number;
  /** How long a write waits for the view to catch up before failing STORE_UNAVAILABLE; default 10 s. */
  catchUpTimeoutMs?: number;
}

const CONFLICT_RETRIES = 5;
const RESYNC_MAX_DELAY_MS = 5_000;

/** Lists the store, starts watching it, and resolves once the view is ready to serve reads. */
export async function createRegistry(options: RegistryOptions): Promise<Registry> {
  const registry = new StoreRegistry(options);
  await registry.start();
  return registry;
}

interface Subscriber {
  listener: (change: MeshChange) => void;
  after: number;
}

class StoreRegistry implements Registry {
  private readonly store: Store;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly keys: RegistryKeys;
  private readonly view: RegistryView;
  private readonly historySize: number;
  private log!: ChangeLog;
  private id!: string;
  private viewRevision = 0;
  private watch: Watch | undefined;
  /** Bumped whenever a watch is abandoned, so its late events are ignored. */
  private generation = 0;
  private closed = false;
  private resyncTimer: TimerHandle | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private subscriberList: Subscriber[] | undefined;
  private readonly waiters: RevisionWaiters;
  private readonly heartbeats = new Map<string, Promise<void>>();

  constructor(options: RegistryOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.keys = registryKeys(options.keyPrefix);
    this.view = new RegistryView(this.keys, this.logger);
    this.waiters = new RevisionWaiters(this.clock, options.catchUpTimeoutMs ?? 10_000);
    this.historySize = options.historySize ?? 10_000;
  }

  async start(): Promise<void> {
    const listed = await this.store.list(this.keys.prefix);
    this.view.load(listed.items);
    this.viewRevision = listed.revision;
    this.log = new ChangeLog(this.historySize, listed.revision);
    this.watch = await this.openWatch(listed.revision);
    // After the watch, so that a new store's first write (this one) is not a change the log lacks.
    this.id = await ensureStoreId(this.store, this.keys.storeId);
  }

  // ── writes ────────────────────────────────────────────────────────────────────────────────────

  async upsertService(definition: ServiceDefinition): Promise<Service> {
    const now = this.clock.now();
    const result = await this.update(
      this.keys.service(definition.name),
      this.view.services.get(definition.name),
      (value) => decodeService(value, definition.name),
      (previous) => buildService(definition, previous, now),
    );
    await this.caughtUp(result!.revision);
    return this.view.services.get(definition.name)?.value ?? result!.value;
  }

  async deleteService(name: string): Promise<boolean> {
    const removed = await Promise.all(
      [...this.view.instancesOf(name)].map((i) => this.removeKeys(name, i.id)),
    );
    const policy = await this.store.delete(this.keys.policy(name));
    const service = await this.store.delete(this.keys.service(name));
    const revisions = [
      ...removed,
      policy.deleted ? policy.revision : undefined,
      service.deleted ? service.revision : undefined,
    ].filter((revision): revision is number => revision !== undefined);
    if (revisions.length === 0) return false;
    await this.caughtUp(Math.max(...revisions));
    return true;
  }

  async registerInstance(registration: InstanceRegistration): Promise<Instance> {
    const spec = specFromRegistration(registration);
    await this.ensureService(spec.service);
    const existing = this.view.instances.get(spec.id)?.value;
    // The same id under another service moves: the old key goes first so watchers see it leave.
    if (existing && existing.service !== spec.service) await this.removeKeys(existing.service, spec.id);
    const now = this.clock.now();
    const result = await this.updateInstance(spec.service, spec.id, (previous) =>
      buildInstance(spec, previous, now),
    );
    await this.caughtUp(result!.revision);
    return this.view.instances.get(spec.id)?.value ?? result!.value;
  }

  async deregisterInstance(id: string): Promise<boolean> {
    const instance = this.view.instances.get(id)?.value;
    if (!instance) return false;
    const revision = await this.removeKeys(instance.service, id);
    if (revision === undefined) return false;
    await this.caughtUp(revision);
    return true;
  }

  /**
   * Keeps the instance's heartbeat key alive. A heartbeat for an instance without a TTL check is
   * accepted and ignored (as SDKs heartbeat every instance they register), so only an unknown id
   * is an error.
   */
  heartbeat(id: string): Promise<void> {
    // Concurrent heartbeats for one id share one round trip (and never grant two leases).
    let pending = this.heartbeats.get(id);
    if (!pending) {
      pending = this.beat(id).finally(() => this.heartbeats.delete(id));
      this.heartbeats.set(id, pending);
    }
    return pending;
  }

  async setHealth(id: string, health: HealthState, output?: string): Promise<void> {
    const instance = this.view.instances.get(id)?.value;
    if (!instance) throw notFound(id);
    if (instance.health === health) return;
    const now = this.clock.now();
    const result = await this.updateInstance(instance.service, id, (current) => {
      if (!current) throw notFound(id);
      if (current.health === health) return undefined;
      const next: Instance = { ...current, health, healthChangedAt: now };
      if (output === undefined) delete next.healthOutput;
      else next.healthOutput = output;
      return next;
    });
    if (result) await this.caughtUp(result.revision);
  }

  async setPolicy(service: string, policy: ServicePolicy): Promise<ServicePolicy> {
    const stored: ServicePolicy = { ...policy, service };
    await this.ensureService(service);
    const { revision } = await this.store.put(this.keys.policy(service), JSON.stringify(stored));
    await this.caughtUp(revision);
    return this.view.policies.get(service)?.value ?? stored;
  }

  async updatePolicy(
    service: string,
    change: (current: ServicePolicy) => ServicePolicy,
  ): Promise<ServicePolicy> {
    // A change that throws (bad input) must leave everything as it was, the service included.
    change(this.getPolicy(service));
    await this.ensureService(service);
    const result = await this.update(
      this.keys.policy(service),
      this.view.policies.get(service),
      (value) => decodePolicy(value, service),
      (current) => ({ ...change(current ?? defaultPolicy(service)), service }),
    );
    await this.caughtUp(result!.revision);
    return this.view.policies.get(service)?.value ?? result!.value;
  }

  async deletePolicy(service: string): Promise<boolean> {
    const result = await this.store.delete(this.keys.policy(service));
    if (!result.deleted) return false;
    await this.caughtUp(result.revision);
    return true;
  }

  async putRoute(definition: RouteDefinition): Promise<Route> {
    const now = this.clock.now();
    const result = await this.update(
      this.keys.route(definition.name),
      this.view.routes.get(definition.name),
      (value) => decodeRoute(value, definition.name),
      (previous) => buildRoute(definition, previous, now),
    );
    await this.caughtUp(result!.revision);
    return this.view.routes.get(definition.name)?.value ?? result!.value;
  }

  async createRoute(definition: RouteDefinition): Promise<Route> {
    const route = buildRoute(definition, undefined, this.clock.now());
    let revision: number;
    try {
      ({ revision } = await this.store.put(this.keys.route(route.name), JSON.stringify(route), {
        expectedModRevision: 0,
      }));
    } catch (error) {
      if (!isMeshError(error) || error.code !== 'CONFLICT') throw error;
      throw new MeshError('CONFLICT', `a route named "${route.name}" already exists`, {
        details: [{ path: 'name', message: 'already exists' }],
      });
    }
    await this.caughtUp(revision);
    return this.view.routes.get(route.name)?.value ?? route;
  }

  async deleteRoute(name: string): Promise<boolean> {
    const result = await this.store.delete(this.keys.route(name));
    if (!result.deleted) return false;
    await this.caughtUp(result.revision);
    return true;
  }

  private async beat(id: string): Promise<void> {
    const instance = this.view.instances.get(id)?.value;
    if (!instance) throw notFound(id);
    if (instance.check?.type !== 'ttl') return;
    const lease = this.view.heartbeatLease(id);
    if (lease !== undefined) {
      try {
        await this.store.keepAlive(lease);
        return;
      } catch (error) {
        if (!isMeshError(error) || error.code !== 'LEASE_NOT_FOUND') throw error;
      }
    }
    const granted = await this.store.grantLease(Math.max(1, Math.ceil(instance.check.ttlMs / 1000)));
    const { revision } = await this.store.put(this.keys.heartbeat(instance.service, id), id, {
      lease: granted,
    });
    await this.caughtUp(revision);
  }

  private async ensureService(name: string): Promise<void> {
    if (this.view.services.has(name)) return;
    const service = buildService({ name, tags: [], metadata: {} }, undefined, this.clock.now());
    try {
      await this.store.put(this.keys.service(name), JSON.stringify(service), { expectedModRevision: 0 });
    } catch (error) {
      if (!isMeshError(error) || error.code !== 'CONFLICT') throw error; // created meanwhile: fine
    }
  }

  /** Deletes an instance's keys; returns the revision of the instance's delete, if it existed. */
  private async removeKeys(service: string, id: string): Promise<number | undefined> {
    const lease = this.view.heartbeatLease(id);
    const result = await this.store.delete(this.keys.instance(service, id));
    await this.store.delete(this.keys.heartbeat(service, id));
    if (lease !== undefined) {
      await this.store.revokeLease(lease).catch((error: unknown) => {
        this.logger.debug({ err: error, id }, 'registry: could not revoke a heartbeat lease');
      });
    }
    return result.deleted ? result.revision : undefined;
  }

  private updateInstance(
    service: string,
    id: string,
    change: (current: Instance | undefined) => Instance | undefined,
  ) {
    const entry = this.view.instances.get(id);
    return this.update(
      this.keys.instance(service, id),
      entry?.value.service === service ? entry : undefined,
      (value) => decodeInstance(value, service, id),
      change,
    );
  }

  /**
   * Read-modify-write with compare-on-revision: starts from the view's copy and, when another
   * writer got there first, re-reads the key from the store and tries again.
   */
  private async update<T>(
    key: string,
    known: Versioned<T> | undefined,
    decode: (value: string) => T | undefined,
    change: (current: T | undefined) => T | undefined,
  ): Promise<{ revision: number; value: T } | undefined> {
    let current: { value: T | undefined; modRevision: number } | undefined = known;
    for (let attempt = 0; ; attempt++) {
      const next = change(current?.value);
      if (next === undefined) return undefined;
      try {
        const options = { expectedModRevision: current?.modRevision ?? 0 };
        const { revision } = await this.store.put(key, JSON.stringify(next), options);
        return { revision, value: next };
      } catch (error) {
        if (!isMeshError(error) || error.code !== 'CONFLICT' || attempt >= CONFLICT_RETRIES) throw error;
        const kv: KeyValue | undefined = await this.store.get(key);
        current = kv ? { value: decode(kv.value), modRevision: kv.modRevision } : undefined;
      }
    }
  }

  // ── reads ─────────────────────────────────────────────────────────────────────────────────────

  getService(name: string): Service | undefined {
    return this.view.services.get(name)?.value;
  }

  listServices(): ServiceSummary[] {
    const summaries: ServiceSummary[] = [];
    for (const { value: service } of this.view.services.values()) {
      const instances = Object.fromEntries(HEALTH_STATES.map((state) => [state, 0])) as Record<
        HealthState,
        number
      >;
      for (const instance of this.view.instancesOf(service.name)) instances[instance.health]++;
      summaries.push({ ...service, instances });
    }
    return summaries.sort((a, b) => compare(a.name, b.name));
  }

  getPolicy(service: string): ServicePolicy {
    return this.view.policies.get(service)?.value ?? defaultPolicy(service);
  }

  hasPolicy(service: string): boolean {
    return this.view.policies.has(service);
  }

  listPolicies(): ServicePolicy[] {
    return [...this.view.policies.values()]
      .map((entry) => entry.value)
      .sort((a, b) => compare(a.service, b.service));
  }

  getRoute(name: string): Route | undefined {
    return this.view.routes.get(name)?.value;
  }

  listRoutes(): Route[] {
    return [...this.view.routes.values()]
      .map((entry) => entry.value)
      .sort((a, b) => b.priority - a.priority || compare(a.name, b.name));
  }

  getInstance(id: string): Instance | undefined {
    return this.view.instances.get(id)?.value;
  }

  listInstances(filter: InstanceFilter = {}): Instance[] {
    const source = filter.service
      ? this.view.instancesOf(filter.service)
      : [...this.view.instances.values()].map((entry) => entry.value);
    const out: Instance[] = [];
    for (const instance of source) {
      if (filter.health && !filter.health.includes(instance.health)) continue;
      if (filter.tag !== undefined && !instance.tags.includes(filter.tag)) continue;
      out.push(instance);
    }
    return out.sort((a, b) => compare(a.service, b.service) || compare(a.id, b.id));
  }

  snapshot(): MeshSnapshot {
    return {
      revision: this.viewRevision,
      storeId: this.id,
      services: [...this.view.services.values()].map((entry) => entry.value),
      instances: [...this.view.instances.values()].map((entry) => entry.value),
      policies: [...this.view.policies.values()].map((entry) => entry.value),
      routes: [...this.view.routes.values()].map((entry) => entry.value),
    };
  }

  revision(): number {
    return this.viewRevision;
  }

  storeId(): string {
    return this.id;
  }

  /** Replays the held changes after `afterRevision` synchronously, before returning. */
  subscribe(listener: (change: MeshChange) => void, afterRevision?: number): ChangeSubscription {
    const after = afterRevision ?? this.viewRevision;
    const subscriber: Subscriber = { listener, after };
    for (const change of this.log.since(after)) this.deliver(subscriber, change);
    this.subscribers.add(subscriber);
    this.subscriberList = undefined;
    return {
      close: () => {
        if (this.subscribers.delete(subscriber)) this.subscriberList = undefined;
      },
    };
  }

  subscriberCount(): number {
    return this.subscribers.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    const watch = this.watch;
    this.watch = undefined;
    await watch?.close().catch(() => {});
    this.waiters.close();
    this.subscribers.clear();
    this.subscriberList = undefined;
  }

  // ── the view: watch, apply, notify ────────────────────────────────────────────────────────────

  private openWatch(afterRevision: number): Promise<Watch> {
    const generation = this.generation;
    return this.store.watch(
      this.keys.prefix,
      {
        onEvents: (events) => this.onEvents(generation, events),
        onError: (error) => this.onWatchError(generation, error),
      },
      { afterRevision },
    );
  }

  private onEvents(generation: number, events: WatchEvent[]): void {
    if (generation !== this.generation) return;
    for (const event of events) {
      const revision = event.type === 'put' ? event.kv.modRevision : event.modRevision;
      if (revision > this.viewRevision) this.viewRevision = revision;
      const change = this.view.apply(event);
      if (change) this.emit(change);
    }
    this.releaseWaiters();
  }

  private onWatchError(generation: number, error: Error): void {
    if (generation !== this.generation || this.closed) return;
    this.generation++;
    const watch = this.watch;
    this.watch = undefined;
    void watch?.close().catch(() => {});
    if (isMeshError(error) && error.code === 'STORE_CLOSED') {
      this.logger.error({ err: error }, 'registry: the store was closed; the view is frozen');
      return;
    }
    this.logger.warn(
      { err: error, revision: this.viewRevision },
      'registry: store watch ended; listing again',
    );
    void this.resync(0);
  }

  /** Lists again after a broken watch, emits the difference as changes, and watches from there. */
  private async resync(attempt: number): Promise<void> {
    this.resyncTimer = undefined;
    const generation = this.generation;
    try {
      const listed = await this.store.list(this.keys.prefix);
      if (this.closed || generation !== this.generation) return;
      const changes = this.view.replace(listed.items, listed.revision);
      this.viewRevision = Math.max(this.viewRevision, listed.revision);
      this.adoptStoreId(listed.items);
      for (const change of changes) this.emit(change);
      this.releaseWaiters();
      const watch = await this.openWatch(listed.revision);
      if (this.closed || generation !== this.generation) {
        await watch.close().catch(() => {});
        return;
      }
      this.watch = watch;
      this.logger.info({ revision: listed.revision, changes: changes.length }, 'registry: watching again');
    } catch (error) {
      if (this.closed || generation !== this.generation) return;
      const delay = Math.min(100 * 2 ** attempt, RESYNC_MAX_DELAY_MS);
      this.logger.warn({ err: error, retryInMs: delay }, 'registry: could not list the store again');
      this.resyncTimer = this.clock.setTimeout(() => void this.resync(attempt + 1), delay);
    }
  }

  /** A store replaced under a running node (etcd restored from a backup) shows its id on a new list. */
  private adoptStoreId(items: KeyValue[]): void {
    const stored = items.find((kv) => kv.key === this.keys.storeId)?.value;
    if (!stored || stored === this.id) return;
    this.logger.warn({ previous: this.id, storeId: stored }, 'registry: the store has another id now');
    this.id = stored;
  }

  private emit(change: MeshChange): void {
    this.log.push(change);
    if (this.subscribers.size === 0) return;
    // A stable copy, rebuilt only when subscribers change, so listeners may (un)subscribe here.
    this.subscriberList ??= [...this.subscribers];
    for (const subscriber of this.subscriberList) this.deliver(subscriber, change);
  }

  private deliver(subscriber: Subscriber, change: MeshChange): void {
    if (change.revision <= subscriber.after) return;
    try {
      subscriber.listener(change);
    } catch (error) {
      this.logger.warn({ err: error, change: change.type }, 'registry: a change listener threw');
    }
  }

  /** Resolves once the view has applied `revision` (read-your-writes). */
  private caughtUp(revision: number): Promise<void> {
    return this.waiters.wait(revision, this.viewRevision);
  }

  private releaseWaiters(): void {
    this.waiters.release(this.viewRevision);
  }
}

function notFound(id: string): MeshError {
  return new MeshError('INSTANCE_NOT_FOUND', `no instance with id "${id}" is registered`);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
