import type { Clock, Instance, MeshSnapshot, Route, ServicePolicy, TimerHandle } from '../../core/index.ts';
import { systemClock } from '../../core/index.ts';
import { ChangeListeners, type DiscoverySource } from './source.ts';

/**
 * The part of the client's `MeshWatch` (src/client, `watchMesh()`) the proxy reads. `policy`,
 * `routes` and a change subscription are used when the watch has them; otherwise policies and routes
 * come from `view()` and changes are noticed by polling `revision()`.
 */
export interface MeshWatchLike {
  view(): MeshSnapshot | undefined;
  revision(): number | undefined;
  instancesOf(service: string): Instance[];
  policy?(service: string): ServicePolicy | undefined;
  routes?(): Route[];
  /** A change subscription, when the watch offers one (either name). */
  subscribe?(listener: () => void): () => void;
  onChange?(listener: () => void): () => void;
}

export interface WatchSourceOptions {
  clock?: Clock;
  /** How often `revision()` is compared when the watch has no subscription (default 100 ms). */
  pollMs?: number;
  onError?: (error: unknown) => void;
}

/** A DiscoverySource over the watch's last-known view; see MeshWatchLike. */
export interface WatchSource extends DiscoverySource {
  /** Tells the source the view changed (e.g. from `watchMesh({ onChange })`); listeners run at once. */
  notify(): void;
  /** Stops polling and drops the listeners. */
  close(): void;
}

export function createWatchSource(
  watch: MeshWatchLike,
  defaultPolicy: (service: string) => ServicePolicy | undefined,
  options: WatchSourceOptions = {},
): WatchSource {
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 100;
  const listeners = new ChangeListeners(options.onError);
  let seenRevision = watch.revision();
  let timer: TimerHandle | undefined;
  let unsubscribe: (() => void) | undefined;
  let indexed: MeshSnapshot | undefined;
  let policies = new Map<string, ServicePolicy>();

  function emit(): void {
    seenRevision = watch.revision();
    listeners.emit();
  }

  function poll(): void {
    timer = undefined;
    if (watch.revision() !== seenRevision) emit();
    if (listeners.size > 0 && unsubscribe === undefined) schedule();
  }

  function schedule(): void {
    timer = clock.setTimeout(poll, pollMs);
    timer.unref?.();
  }

  function start(): void {
    const subscribe = watch.subscribe ?? watch.onChange;
    if (typeof subscribe === 'function') unsubscribe = subscribe.call(watch, emit);
    else if (timer === undefined) schedule();
  }

  function stop(): void {
    unsubscribe?.();
    unsubscribe = undefined;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  }

  function policyFromView(service: string): ServicePolicy | undefined {
    const view = watch.view();
    if (view !== indexed) {
      indexed = view;
      policies = new Map((view?.policies ?? []).map((policy) => [policy.service, policy]));
    }
    return policies.get(service);
  }

  return {
    instancesOf: (service) => watch.instancesOf(service),
    serviceNames: () => new Set((watch.view()?.instances ?? []).map((instance) => instance.service)),
    policy(service) {
      const policy = typeof watch.policy === 'function' ? watch.policy(service) : policyFromView(service);
      return policy ?? defaultPolicy(service);
    },
    routes: () => (typeof watch.routes === 'function' ? watch.routes() : (watch.view()?.routes ?? [])),
    onChange(listener) {
      const remove = listeners.add(listener);
      if (listeners.size === 1) start();
      return () => {
        remove();
        if (listeners.size === 0) stop();
      };
    },
    notify: emit,
    close() {
      stop();
    },
  };
}
