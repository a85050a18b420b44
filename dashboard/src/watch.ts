/**
 * The live view of the mesh: `/api/v1/watch` read as Server-Sent Events over fetch (EventSource
 * cannot send the admin token), a snapshot then changes, resumed from the last revision after a
 * drop with growing back-off. A resume names the store the view came from, so a control plane back
 * on another store (an empty data dir, a new etcd) answers with a snapshot, not its own history.
 */
import type { Change, Instance, Policy, Route, Service, Snapshot } from './types.ts';

export interface MeshState {
  revision: number;
  storeId?: string;
  services: Map<string, Service>;
  instances: Map<string, Instance>;
  policies: Map<string, Policy>;
  routes: Map<string, Route>;
}

export type WatchStatus = 'connecting' | 'live' | 'offline' | 'unauthorized';

/** What the watch needs of the API (`Api` has it): the base URL, the token header, the 401 signal. */
export interface WatchApi {
  readonly base: string;
  headers(): Record<string, string>;
  unauthorized(): void;
}

export interface WatchHandlers {
  onState(state: MeshState): void;
  onStatus(status: WatchStatus): void;
}

export function emptyState(): MeshState {
  return { revision: 0, services: new Map(), instances: new Map(), policies: new Map(), routes: new Map() };
}

export function watchMesh(api: WatchApi, handlers: WatchHandlers): { close(): void; reconnect(): void } {
  let state = emptyState();
  let closed = false;
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = 500;

  async function connect(): Promise<void> {
    if (closed) return;
    controller = new AbortController();
    handlers.onStatus('connecting');
    try {
      const response = await fetch(`${api.base}/api/v1/watch${resumeQuery(state)}`, {
        headers: { accept: 'text/event-stream', ...api.headers() },
        signal: controller.signal,
      });
      if (response.status === 401) {
        handlers.onStatus('unauthorized');
        api.unauthorized();
        return;
      }
      if (!response.ok || !response.body) throw new Error(`watch answered ${response.status}`);
      handlers.onStatus('live');
      delay = 500;
      await readEvents(response.body, (event, data) => {
        if (event === 'snapshot') state = fromSnapshot(JSON.parse(data) as Snapshot);
        else if (event === 'change') state = applyChange(state, JSON.parse(data) as Change);
        else return;
        handlers.onState(state);
      });
    } catch (error) {
      if (closed || (error as Error).name === 'AbortError') return;
    }
    if (closed) return;
    handlers.onStatus('offline');
    timer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10_000);
  }

  void connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      controller?.abort();
    },
    reconnect() {
      clearTimeout(timer);
      controller?.abort();
      delay = 500;
      void connect();
    },
  };
}

async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent(event, data.join('\n'));
      end = buffer.indexOf('\n\n');
    }
  }
}

/** `?revision=N&store=S` after the first snapshot: resume after N if the store is still S. */
function resumeQuery(state: MeshState): string {
  if (state.revision <= 0) return '';
  const store = state.storeId === undefined ? '' : `&store=${encodeURIComponent(state.storeId)}`;
  return `?revision=${state.revision}${store}`;
}

function fromSnapshot(snapshot: Snapshot): MeshState {
  return {
    revision: snapshot.revision,
    storeId: snapshot.storeId,
    services: new Map(snapshot.services.map((service) => [service.name, service])),
    instances: new Map(snapshot.instances.map((instance) => [instance.id, instance])),
    policies: new Map((snapshot.policies ?? []).map((policy) => [policy.service, policy])),
    routes: new Map((snapshot.routes ?? []).map((route) => [route.name, route])),
  };
}

function applyChange(state: MeshState, change: Change): MeshState {
  const next: MeshState = { ...state, revision: Math.max(state.revision, change.revision) };
  switch (change.type) {
    case 'service.put':
      next.services = withEntry(state.services, change.service.name, change.service);
      break;
    case 'service.delete':
      next.services = withoutEntry(state.services, change.name);
      break;
    case 'instance.put':
      next.instances = withEntry(state.instances, change.instance.id, change.instance);
      break;
    case 'instance.delete':
      next.instances = withoutEntry(state.instances, change.id);
      break;
    case 'policy.put':
      next.policies = withEntry(state.policies, change.policy.service, change.policy);
      break;
    case 'policy.delete':
      next.policies = withoutEntry(state.policies, change.service);
      break;
    case 'route.put':
      next.routes = withEntry(state.routes, change.route.name, change.route);
      break;
    case 'route.delete':
      next.routes = withoutEntry(state.routes, change.name);
      break;
  }
  return next;
}

/** A copy of `map` with `key` set: the state is replaced, never changed, so components re-render. */
function withEntry<V>(map: ReadonlyMap<string, V>, key: string, value: V): Map<string, V> {
  return new Map(map).set(key, value);
}

function withoutEntry<V>(map: ReadonlyMap<string, V>, key: string): Map<string, V> {
  const next = new Map(map);
  next.delete(key);
  return next;
}

/** Every service the mesh knows of: records, instances' services and stored policies, by name. */
export function serviceNames(state: MeshState): string[] {
  const names = new Set(state.services.keys());
  for (const instance of state.instances.values()) names.add(instance.service);
  for (const service of state.policies.keys()) names.add(service);
  return [...names].sort();
}

export function instancesOf(state: MeshState, service: string): Instance[] {
  return [...state.instances.values()]
    .filter((instance) => instance.service === service)
    .sort((a, b) => a.id.localeCompare(b.id));
}
