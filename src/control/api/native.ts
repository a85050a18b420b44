/** The native API under /api/v1: services, instances, mesh health, snapshot and the watch stream. */
import { instanceRegistration, serviceDefinition, validate } from '../../config/index.ts';
import { type Instance, MeshError, type Service } from '../../core/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';
import { resumePoint } from '../watch.ts';
import {
  countHealth,
  groupByService,
  type HealthCounts,
  meshStatus,
  parseHealthFilter,
  storeConnected,
} from './mesh-health.ts';

const BASE = '/api/v1';

export function registerNativeRoutes(router: ControlRouter, deps: ApiDeps): void {
  const { registry, store, hub } = deps;

  router
    .add('GET', `${BASE}/services`, () => json({ services: registry.listServices() }))

    .add('POST', `${BASE}/services`, async (ctx) => {
      const definition = validate(serviceDefinition, await ctx.body(), { what: 'service' });
      return json(await registry.upsertService(definition), 201);
    })

    .add('GET', `${BASE}/services/:name`, ({ params }) => {
      const instances = registry.listInstances({ service: params.name });
      return json({ service: requireService(registry, params.name!, instances), instances });
    })

    .add('DELETE', `${BASE}/services/:name`, async ({ params }) => {
      if (!(await registry.deleteService(params.name!))) throw serviceNotFound(params.name!);
      return json({ deleted: true });
    })

    .add('GET', `${BASE}/services/:name/instances`, ({ params, query }) => {
      const health = parseHealthFilter(query.getAll('health'));
      const all = registry.listInstances({ service: params.name });
      requireService(registry, params.name!, all);
      const instances = health ? registry.listInstances({ service: params.name, health }) : all;
      return json({ instances });
    })

    .add('POST', `${BASE}/instances`, async (ctx) => {
      const registration = validate(instanceRegistration, await ctx.body(), { what: 'instance' });
      return json(await registry.registerInstance(registration), 201);
    })

    .add('GET', `${BASE}/instances`, ({ query }) => {
      const health = parseHealthFilter(query.getAll('health'));
      const revision = registry.revision();
      const instances = registry.listInstances({
        service: query.get('service') || undefined,
        tag: query.get('tag') || undefined,
        health,
      });
      return json({ instances, revision });
    })

    .add('GET', `${BASE}/instances/:id`, ({ params }) => {
      const instance = registry.getInstance(params.id!);
      if (!instance) throw instanceNotFound(params.id!);
      return json(instance);
    })

    .add('DELETE', `${BASE}/instances/:id`, async ({ params }) => {
      if (!(await registry.deregisterInstance(params.id!))) throw instanceNotFound(params.id!);
      return json({ deleted: true });
    })

    .add(['PUT', 'POST'], `${BASE}/instances/:id/heartbeat`, async ({ params }) => {
      await registry.heartbeat(params.id!);
      return json({ id: params.id, ok: true });
    })

    .add('GET', `${BASE}/health`, async () => {
      const connected = await storeConnected(store);
      const instances = registry.listInstances();
      const services: Record<string, HealthCounts> = {};
      const names = registry.listServices().map((service) => service.name);
      for (const [name, members] of groupByService(names, instances)) services[name] = countHealth(members);
      const counts = countHealth(instances);
      return json({
        status: meshStatus(counts, connected),
        instances: counts,
        services,
        store: { kind: store.kind, connected },
        revision: registry.revision(),
        leader: deps.checker?.isLeader() ?? false,
        nodeId: deps.nodeId,
        timestamp: new Date().toISOString(),
      });
    })

    .add('GET', `${BASE}/snapshot`, () => json(registry.snapshot()))

    .add('GET', `${BASE}/watch`, ({ req, res, query }) => {
      if (req.method === 'HEAD') return json(null);
      hub.attach(req, res, resumePoint(req, query));
      return undefined;
    });
}

/** The service, or one implied by its instances; throws SERVICE_NOT_FOUND when neither exists. */
export function requireService(registry: Registry, name: string, instances: Instance[]): Service {
  const service = registry.getService(name);
  if (service) return service;
  if (instances.length === 0) throw serviceNotFound(name);
  const createdAt = Math.min(...instances.map((instance) => instance.registeredAt));
  return { name, tags: [], metadata: {}, createdAt };
}

export function serviceNotFound(name: string): MeshError {
  return new MeshError('SERVICE_NOT_FOUND', `no service named "${name}" is registered`);
}

export function instanceNotFound(id: string): MeshError {
  return new MeshError('INSTANCE_NOT_FOUND', `no instance with id "${id}" is registered`);
}
