/** Service policies under /api/v1: read, replace, patch and reset a service's traffic policy. */
import { resolvePolicy } from '../../config/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';
import { serviceNotFound } from './native.ts';

const BASE = '/api/v1';

export function registerPolicyRoutes(router: ControlRouter, deps: ApiDeps): void {
  const { registry } = deps;

  router
    .add('GET', `${BASE}/policies`, () => json({ policies: registry.listPolicies() }))

    .add('GET', `${BASE}/services/:name/policy`, ({ params }) => {
      requireKnown(registry, params.name!);
      return json(registry.getPolicy(params.name!));
    })

    // Replace: the body over the defaults. Validated before anything is written.
    .add('PUT', `${BASE}/services/:name/policy`, async (ctx) => {
      const service = ctx.params.name!;
      const policy = resolvePolicy(service, await ctx.body());
      return json(await registry.setPolicy(service, policy));
    })

    // Merge: the body over the current policy, with compare-on-revision against concurrent writers.
    .add('PATCH', `${BASE}/services/:name/policy`, async (ctx) => {
      const service = ctx.params.name!;
      const input = await ctx.body();
      return json(await registry.updatePolicy(service, (current) => resolvePolicy(service, input, current)));
    })

    .add('DELETE', `${BASE}/services/:name/policy`, async ({ params }) => {
      const service = params.name!;
      requireKnown(registry, service);
      await registry.deletePolicy(service);
      return json(registry.getPolicy(service));
    });
}

/** A policy is shown for a service that exists, has instances or has a stored policy. */
function requireKnown(registry: Registry, service: string): void {
  if (registry.getService(service) || registry.hasPolicy(service)) return;
  if (registry.listInstances({ service }).length > 0) return;
  throw serviceNotFound(service);
}
