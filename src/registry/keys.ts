/**
 * The registry's store layout:
 *   <prefix>services/<name>             → Service JSON
 *   <prefix>instances/<service>/<id>    → Instance JSON
 *   <prefix>heartbeats/<service>/<id>   → instance id, attached to a lease (TTL checks)
 * Service names and instance ids never contain "/", so a key splits unambiguously.
 */
export type ParsedKey =
  | { kind: 'service'; name: string }
  | { kind: 'instance'; service: string; id: string }
  | { kind: 'heartbeat'; service: string; id: string };

export interface RegistryKeys {
  readonly prefix: string;
  service(name: string): string;
  instance(service: string, id: string): string;
  heartbeat(service: string, id: string): string;
  /** Undefined for keys under the prefix that are not the registry's. */
  parse(key: string): ParsedKey | undefined;
}

export function registryKeys(prefix = '/trellis/'): RegistryKeys {
  const root = prefix.endsWith('/') ? prefix : `${prefix}/`;
  const services = `${root}services/`;
  const instances = `${root}instances/`;
  const heartbeats = `${root}heartbeats/`;

  return {
    prefix: root,
    service: (name) => services + name,
    instance: (service, id) => `${instances}${service}/${id}`,
    heartbeat: (service, id) => `${heartbeats}${service}/${id}`,
    parse(key) {
      if (key.startsWith(services)) {
        const name = key.slice(services.length);
        return name && !name.includes('/') ? { kind: 'service', name } : undefined;
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
