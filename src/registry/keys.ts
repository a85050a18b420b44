/**
 * The registry's store layout:
 *   <prefix>services/<name>             → Service JSON
 *   <prefix>instances/<service>/<id>    → Instance JSON
 *   <prefix>heartbeats/<service>/<id>   → instance id, attached to a lease (TTL checks)
 *   <prefix>policies/<service>          → ServicePolicy JSON (only services whose policy was set)
 *   <prefix>routes/<name>               → Route JSON
 *   <prefix>alert-rules/<name>          → AlertRuleDefinition JSON (read by alert-rules.ts, not the view)
 *   <prefix>store-id                    → the store's identity, a random id written once (store-id.ts)
 * Service names, route names and instance ids never contain "/", so a key splits unambiguously.
 */
export type ParsedKey =
  | { kind: 'service'; name: string }
  | { kind: 'instance'; service: string; id: string }
  | { kind: 'heartbeat'; service: string; id: string }
  | { kind: 'policy'; service: string }
  | { kind: 'route'; name: string };

export interface RegistryKeys {
  readonly prefix: string;
  service(name: string): string;
  instance(service: string, id: string): string;
  heartbeat(service: string, id: string): string;
  policy(service: string): string;
  route(name: string): string;
  /** The key holding the store's identity (see store-id.ts); the view ignores it. */
  readonly storeId: string;
  /** The prefix of every alert rule's key. */
  readonly alertRules: string;
  alertRule(name: string): string;
  /** Undefined for keys under the prefix that are not the registry's. */
  parse(key: string): ParsedKey | undefined;
}

export function registryKeys(prefix = '/trellis/'): RegistryKeys {
  const root = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const services = `${root}services/`;
  const instances = `${root}instances/`;
  const heartbeats = `${root}heartbeats/`;
  const policies = `${root}policies/`;
  const routes = `${root}routes/`;
  const alertRules = `${root}alert-rules/`;

  /** The one segment after `base`, or undefined when it is empty or has more segments. */
  const single = (key: string, base: string): string | undefined => {
    const name = key.slice(base.length);
    return name && !name.includes('/') ? name : undefined;
  };

  return {
    prefix: root,
    service: (name) => services + name,
    instance: (service, id) => `${instances}${service}/${id}`,
    heartbeat: (service, id) => `${heartbeats}${service}/${id}`,
    policy: (service) => policies + service,
    route: (name) => routes + name,
    storeId: `${root}store-id`,
    alertRules,
    alertRule: (name) => alertRules + name,
    parse(key) {
      if (key.startsWith(services)) {
        const name = single(key, services);
        return name === undefined ? undefined : { kind: 'service', name };
      }
      if (key.startsWith(policies)) {
        const service = single(key, policies);
        return service === undefined ? undefined : { kind: 'policy', service };
      }
      if (key.startsWith(routes)) {
        const name = single(key, routes);
        return name === undefined ? undefined : { kind: 'route', name };
      }
      const base = key.startsWith(instances)
        ? instances
        : key.startsWith(heartbeats)
          ? heartbeats
          : undefined;
      if (!base) return undefined;
      const parts = key.slice(base.length).split('/');
      if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
      return { kind: base === instances ? 'instance' : 'heartbeat', service: parts[0], id: parts[1] };
    },
  };
}
