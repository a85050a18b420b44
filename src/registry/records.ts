/** How services, instances, policies and routes are built from API input and stored as JSON. */
import type { InstanceRegistration, RouteDefinition, ServiceDefinition } from '../config/index.ts';
import { resolvePolicy, routeInput, toHealthCheck } from '../config/index.ts';
import {
  defaultInstanceId,
  type HealthCheck,
  type HealthState,
  type Instance,
  type InstanceSpec,
  type Route,
  type Service,
  type ServicePolicy,
} from '../core/index.ts';

export function specFromRegistration(registration: InstanceRegistration): InstanceSpec {
  const { service, address, port } = registration;
  const spec: InstanceSpec = {
    id: registration.id ?? defaultInstanceId(service, address, port),
    service,
    address,
    port,
    tags: registration.tags ?? [],
    metadata: registration.metadata ?? {},
    weight: registration.weight ?? 100,
  };
  if (registration.zone !== undefined) spec.zone = registration.zone;
  if (registration.version !== undefined) spec.version = registration.version;
  if (registration.check) spec.check = toHealthCheck(registration.check, address, port);
  return spec;
}

/** An instance without a check is trusted; one with a check is unknown until the checker says. */
export function initialHealth(check: HealthCheck | undefined): HealthState {
  return check ? 'unknown' : 'healthy';
}

export function sameCheck(a: HealthCheck | undefined, b: HealthCheck | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A (re-)registration replaces the spec; health survives when the check did not change. */
export function buildInstance(spec: InstanceSpec, previous: Instance | undefined, now: number): Instance {
  const keepHealth = previous !== undefined && sameCheck(previous.check, spec.check);
  const instance: Instance = {
    ...spec,
    health: keepHealth ? previous.health : initialHealth(spec.check),
    registeredAt: previous?.registeredAt ?? now,
    healthChangedAt: keepHealth ? previous.healthChangedAt : now,
  };
  if (keepHealth && previous.healthOutput !== undefined) instance.healthOutput = previous.healthOutput;
  return instance;
}

export function buildService(
  definition: ServiceDefinition,
  previous: Service | undefined,
  now: number,
): Service {
  return {
    name: definition.name,
    tags: definition.tags ?? [],
    metadata: definition.metadata ?? {},
    createdAt: previous?.createdAt ?? now,
  };
}

/** Parses a stored instance; the key is the truth for its service and id. Undefined if corrupt. */
export function decodeInstance(value: string, service: string, id: string): Instance | undefined {
  const parsed = parseObject(value);
  if (!parsed || typeof parsed.address !== 'string' || typeof parsed.port !== 'number') return undefined;
  return deepFreeze({ ...(parsed as unknown as Instance), service, id });
}

export function decodeService(value: string, name: string): Service | undefined {
  const parsed = parseObject(value);
  if (!parsed) return undefined;
  return deepFreeze({ ...(parsed as unknown as Service), name });
}

/** A route keeps the creation time of the route it replaces. */
export function buildRoute(definition: RouteDefinition, previous: Route | undefined, now: number): Route {
  return { ...definition, createdAt: previous?.createdAt ?? now };
}

/**
 * Parses a stored policy through the schema, over the defaults: a policy stored before a field
 * existed gets that field's default. Undefined if unreadable.
 */
export function decodePolicy(value: string, service: string): ServicePolicy | undefined {
  const parsed = parseObject(value);
  if (!parsed) return undefined;
  try {
    return deepFreeze(resolvePolicy(service, { ...parsed, service }));
  } catch {
    return undefined;
  }
}

export function decodeRoute(value: string, name: string): Route | undefined {
  const parsed = parseObject(value);
  if (!parsed) return undefined;
  const result = routeInput.safeParse({ ...parsed, name });
  if (!result.success) return undefined;
  const createdAt = typeof parsed.createdAt === 'number' ? parsed.createdAt : 0;
  return deepFreeze({ ...result.data, createdAt });
}

function parseObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The view hands out its own objects; freezing them keeps callers from editing the view. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
