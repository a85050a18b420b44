/**
 * The control plane's own proxy reads the mesh straight from the in-process registry: no HTTP watch,
 * the same view the API serves.
 */
import type { MeshChange, Route, ServicePolicy } from '../core/index.ts';
import type { DiscoverySource } from '../proxy/index.ts';
import type { ChangeSubscription, Registry } from '../registry/index.ts';

export interface RegistrySource extends DiscoverySource {
  /** Stops listening to the registry and drops the listeners. */
  close(): void;
}

/**
 * A DiscoverySource over a Registry. Instances, stored policies and routes are read when the proxy
 * asks (it asks only after `onChange`); the registry is subscribed to only while someone listens.
 */
export function createRegistrySource(
  registry: Registry,
  onError: (error: unknown) => void = () => {},
): RegistrySource {
  const listeners = new Set<() => void>();
  let subscription: ChangeSubscription | undefined;
  let routes: Route[] | undefined;

  const changed = (change: MeshChange): void => {
    if (change.type === 'route.put' || change.type === 'route.delete') routes = undefined;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        onError(error);
      }
    }
  };

  function stop(): void {
    subscription?.close();
    subscription = undefined;
  }

  return {
    instancesOf: (service) => registry.listInstances({ service }),
    serviceNames: () => new Set(registry.listInstances().map((instance) => instance.service)),
    // Undefined for a service without a stored policy, so the proxy applies its own default.
    policy: (service): ServicePolicy | undefined =>
      registry.hasPolicy(service) ? registry.getPolicy(service) : undefined,
    // The same array until a route changes: the gateway recompiles its table when the identity changes.
    routes: () => {
      routes ??= registry.listRoutes();
      return routes;
    },
    onChange(listener) {
      listeners.add(listener);
      subscription ??= registry.subscribe(changed);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) stop();
      };
    },
    close() {
      stop();
      listeners.clear();
    },
  };
}
