/** Mesh-wide health, shared by the native and seed-compatible health endpoints. */
import { HEALTH_STATES, type HealthState, type Instance, MeshError } from '../../core/index.ts';
import type { Store } from '../../store/index.ts';

export type HealthCounts = Record<HealthState, number> & { total: number };

export type MeshStatus = 'healthy' | 'degraded' | 'unhealthy';

export function emptyCounts(): HealthCounts {
  return { total: 0, healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
}

export function countHealth(instances: Iterable<Instance>): HealthCounts {
  const counts = emptyCounts();
  for (const instance of instances) {
    counts.total++;
    counts[instance.health]++;
  }
  return counts;
}

/** Instances grouped by service, with an entry (maybe empty) for every named service too. */
export function groupByService(
  serviceNames: Iterable<string>,
  instances: Instance[],
): Map<string, Instance[]> {
  const groups = new Map<string, Instance[]>();
  for (const name of serviceNames) groups.set(name, []);
  for (const instance of instances) {
    const group = groups.get(instance.service);
    if (group) group.push(instance);
    else groups.set(instance.service, [instance]);
  }
  return groups;
}

/**
 * `healthy` when every instance is healthy (or there are none), `unhealthy` when the store is
 * unreachable or no instance can take traffic although some are failing, else `degraded`.
 */
export function meshStatus(counts: HealthCounts, storeConnected: boolean): MeshStatus {
  if (!storeConnected) return 'unhealthy';
  if (counts.healthy === counts.total) return 'healthy';
  if (counts.healthy + counts.degraded === 0 && counts.unhealthy > 0) return 'unhealthy';
  return 'degraded';
}

/** Health states from `?health=healthy,degraded` (or repeated); undefined when absent. */
export function parseHealthFilter(values: string[]): HealthState[] | undefined {
  const states = values
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value.length > 0);
  if (states.length === 0) return undefined;
  const invalid = states.filter((state) => !(HEALTH_STATES as readonly string[]).includes(state));
  if (invalid.length > 0) {
    const message = `unknown health state "${invalid[0]}": expected ${HEALTH_STATES.join(', ')}`;
    throw new MeshError('BAD_REQUEST', `invalid query: health: ${message}`, {
      details: [{ path: 'health', message }],
    });
  }
  return states as HealthState[];
}

/** Asks the store whether it answers, without letting a hung store hang the request. */
export async function storeConnected(store: Store, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([store.isHealthy().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
