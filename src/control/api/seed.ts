/**
 * The seed-compatible API: the paths and snake_case fields of the earlier in-house mesh, so its
 * clients work unmodified against Trellis.
 */
import { instanceRegistration, seedRegistration, validate } from '../../config/index.ts';
import { defaultInstanceId, type Instance } from '../../core/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';
import { countHealth, groupByService, meshStatus, storeConnected } from './mesh-health.ts';
import { instanceNotFound, requireService } from './native.ts';

const BASE = '/api/v1/mesh/v2';

/** Seed health checks were probed every 10 s. */
const SEED_CHECK_INTERVAL = '10s';

export interface SeedInstance {
  service_id: string;
  service_name: string;
  address: string;
  port: number;
  state: Instance['health'];
  health: Instance['health'];
  tags: string[];
  metadata: Record<string, string>;
  weight: number;
  zone: string | null;
  version: string | null;
}

interface SeedServiceHealth {
  instances: Pick<SeedInstance, 'service_id' | 'address' | 'port' | 'state'>[];
  healthy: number;
  total: number;
}

export function toSeedInstance(instance: Instance): SeedInstance {
  return {
    service_id: instance.id,
    service_name: instance.service,
    address: instance.address,
    port: instance.port,
    state: instance.health,
    health: instance.health,
    tags: instance.tags,
    metadata: instance.metadata,
    weight: instance.weight,
    zone: instance.zone ?? null,
    version: instance.version ?? null,
  };
}

export function registerSeedRoutes(router: ControlRouter, deps: ApiDeps): void {
  const { registry, store } = deps;

  router
    .add('POST', `${BASE}/register`, async (ctx) => {
      const seed = validate(seedRegistration, await ctx.body(), { what: 'registration' });
      const registration = validate(
        instanceRegistration,
        {
          id: defaultInstanceId(seed.service_name, seed.address, seed.port),
          service: seed.service_name,
          address: seed.address,
          port: seed.port,
          tags: seed.tags,
          metadata: seed.metadata,
          weight: seed.weight,
          check: seed.health_check ? { http: seed.health_check, interval: SEED_CHECK_INTERVAL } : undefined,
        },
        { what: 'registration' },
      );
      const instance = await registry.registerInstance(registration);
      return json({
        service_id: instance.id,
        status: 'registered',
        message: `Service ${seed.service_name} registered successfully`,
      });
    })

    .add('GET', `${BASE}/discover/:service`, ({ params, query }) => {
      const name = params.service!;
      const all = registry.listInstances({ service: name });
      requireService(registry, name, all);
      const healthyOnly = query.get('healthy') === 'true';
      const instances = (healthyOnly ? all.filter((instance) => instance.health === 'healthy') : all).map(
        toSeedInstance,
      );
      return json({ service_name: name, instances, count: instances.length });
    })

    .add('GET', `${BASE}/health`, async () => {
      const connected = await storeConnected(store);
      const instances = registry.listInstances();
      const names = registry.listServices().map((service) => service.name);
      const services: Record<string, SeedServiceHealth> = {};
      for (const [name, members] of groupByService(names, instances)) {
        services[name] = {
          instances: members.map((instance) => ({
            service_id: instance.id,
            address: instance.address,
            port: instance.port,
            state: instance.health,
          })),
          healthy: members.filter((instance) => instance.health === 'healthy').length,
          total: members.length,
        };
      }
      return json({
        status: meshStatus(countHealth(instances), connected),
        store: { kind: store.kind, connected },
        services,
        timestamp: new Date().toISOString(),
      });
    })

    // GET /topology (with edges from collected spans) is served by ./topology.ts.

    .add('DELETE', `${BASE}/services/:serviceId`, async ({ params }) => {
      const id = params.serviceId!;
      if (!(await registry.deregisterInstance(id))) throw instanceNotFound(id);
      return json({
        service_id: id,
        status: 'deregistered',
        message: `Service ${id} deregistered successfully`,
      });
    });
}
