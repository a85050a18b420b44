/** Gateway routes under /api/v1/routes. */
import { routeInput, validate } from '../../config/index.ts';
import { MeshError } from '../../core/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';

const BASE = '/api/v1/routes';

export function registerRouteRoutes(router: ControlRouter, deps: ApiDeps): void {
  const { registry } = deps;

  router
    .add('GET', BASE, () => json({ routes: registry.listRoutes() }))

    .add('POST', BASE, async (ctx) => {
      const route = validate(routeInput, await ctx.body(), { what: 'route' });
      return json(await registry.createRoute(route), 201);
    })

    .add('GET', `${BASE}/:name`, ({ params }) => {
      const route = registry.getRoute(params.name!);
      if (!route) throw routeNotFound(params.name!);
      return json(route);
    })

    // Creates or replaces; the name comes from the path (a name in the body must agree with it).
    .add('PUT', `${BASE}/:name`, async (ctx) => {
      const name = ctx.params.name!;
      const body = await ctx.body();
      const input = isObject(body) && body.name === undefined ? { ...body, name } : body;
      const route = validate(routeInput, input, { what: 'route' });
      if (route.name !== name) {
        const message = `must be "${name}" (the name in the path)`;
        throw new MeshError('BAD_REQUEST', `invalid route: name: ${message}`, {
          details: [{ path: 'name', message }],
        });
      }
      const existed = registry.getRoute(name) !== undefined;
      return json(await registry.putRoute(route), existed ? 200 : 201);
    })

    .add('DELETE', `${BASE}/:name`, async ({ params }) => {
      if (!(await registry.deleteRoute(params.name!))) throw routeNotFound(params.name!);
      return json({ deleted: true });
    });
}

function routeNotFound(name: string): MeshError {
  return new MeshError('NOT_FOUND', `no route named "${name}"`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
