import type { Instance, Route, ServicePolicy } from '../../core/index.ts';

/**
 * What the proxy needs to know about the mesh: a mesh view (the watch stream's last-known view, or a
 * fixed one in tests and benchmarks). The engine reads it only when `onChange` fires, never per
 * request, so implementations may allocate freely.
 */
export interface DiscoverySource {
  /** Every instance of the service, whatever its health. */
  instancesOf(service: string): readonly Instance[];
  /**
   * The names of the services that have at least one instance, to resolve a name written in another
   * case (`Orders` for `orders`); read at most once per change, and only when a name needs it.
   */
  serviceNames(): Iterable<string>;
  /** The service's policy; undefined means the proxy's default policy. */
  policy(service: string): ServicePolicy | undefined;
  /** The gateway's routes, in any order. */
  routes(): readonly Route[];
  /** Calls `listener` after anything above changed; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
}

/** A set of change listeners, called in order; one that throws does not stop the others. */
export class ChangeListeners {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly onError: (error: unknown) => void = () => {}) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
