/** Liveness and readiness probes; open even when an admin token is set. */
import { MeshError } from '../../core/index.ts';
import type { ApiDeps, ControlRouter } from '../context.ts';
import { json } from '../http.ts';
import { storeConnected } from './mesh-health.ts';

export function registerProbeRoutes(router: ControlRouter, deps: ApiDeps, accepting: () => boolean): void {
  const { registry, store } = deps;

  router
    .add('GET', '/healthz', () => json({ status: 'ok' }))

    .add('GET', '/readyz', async () => {
      if (!accepting()) throw new MeshError('NOT_READY', 'the control plane is starting or shutting down');
      if (!(await storeConnected(store))) {
        throw new MeshError('NOT_READY', `the ${store.kind} store does not answer`, {
          details: [{ message: 'store unreachable', check: 'store' }],
        });
      }
      return json({ status: 'ready', store: store.kind, revision: registry.revision() });
    });
}
