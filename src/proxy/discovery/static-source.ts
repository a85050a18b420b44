import type { Instance, Route, ServicePolicy } from '../../core/index.ts';
import { ChangeListeners, type DiscoverySource } from './source.ts';

export interface StaticSourceInput {
  instances?: readonly Instance[];
  routes?: readonly Route[];
  policies?: readonly ServicePolicy[];
  /** Policy for services without one in `policies`; undefined leaves the proxy's default. */
  defaultPolicy?: (service: string) => ServicePolicy | undefined;
}

/** A source fixed in code, for tests, benchmarks and the inbound listener; `update` changes it. */
export interface StaticSource extends DiscoverySource {
  /** Replaces the fields given (the others stay) and notifies the listeners. */
  update(input: StaticSourceInput): void;
}

export function createStaticSource(input: StaticSourceInput = {}): StaticSource {
  let byService = new Map<string, Instance[]>();
  let routes: readonly Route[] = [];
  let policies = new Map<string, ServicePolicy>();
  let defaultPolicy: StaticSourceInput['defaultPolicy'];
  const listeners = new ChangeListeners();

  function set(next: StaticSourceInput): void {
    if (next.instances !== undefined) {
      byService = new Map();
      for (const instance of next.instances) {
        const group = byService.get(instance.service);
        if (group === undefined) byService.set(instance.service, [instance]);
        else group.push(instance);
      }
    }
    if (next.routes !== undefined) routes = [...next.routes];
    if (next.policies !== undefined) policies = new Map(next.policies.map((p) => [p.service, p]));
    if (next.defaultPolicy !== undefined) defaultPolicy = next.defaultPolicy;
  }

  set(input);
  return {
    instancesOf: (service) => byService.get(service) ?? [],
    serviceNames: () => byService.keys(),
    policy: (service) => policies.get(service) ?? defaultPolicy?.(service),
    routes: () => routes,
    onChange: (listener) => listeners.add(listener),
    update(next) {
      set(next);
      listeners.emit();
    },
  };
}
