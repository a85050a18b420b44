import { pino } from 'pino';
import type { Response } from 'undici';
import {
  createControlClient,
  type InstanceRegistration,
  type MeshWatch,
  watchMesh,
} from '../client/index.ts';
import {
  type Clock,
  createPreciseClock,
  isMeshError,
  MeshError,
  parseDuration,
  type TimerHandle,
} from '../core/index.ts';
import { ClusterSet } from './clusters.ts';
import { exchange } from './exchange.ts';
import { createInterceptors } from './interceptors.ts';
import { createPolicyLookup } from './policies.ts';
import { registerInstance } from './registration.ts';
import { createMeshRequest } from './request.ts';
import { onShutdownSignal } from './signals.ts';
import { createSdkTracing, describeCall, type SdkTracing, traceContextOf } from './tracing.ts';
import type { ConnectOptions, Mesh, MeshRequest } from './types.ts';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects to the mesh: opens the watch on the control plane and resolves once the first view of the
 * mesh has arrived. Rejects with CONTROL_PLANE_UNAVAILABLE when none arrives within `connectTimeout`
 * (the watch retries with backoff until then), and at once when the control plane refuses the watch
 * (e.g. UNAUTHORIZED).
 */
export async function connect(options: ConnectOptions): Promise<Mesh> {
  const clock = options.clock ?? createPreciseClock();
  const logger = options.logger ?? pino({ level: 'silent' });
  const random = options.random ?? Math.random;
  const connectTimeoutMs = parseDuration(options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS);
  // Checked before anything is opened: a bad tracing option fails connect() at once.
  const tracing: SdkTracing | undefined =
    options.tracing === undefined
      ? undefined
      : createSdkTracing(options.tracing, { control: options.control, token: options.token, logger });

  let clusters: ClusterSet | undefined;
  let lastError: MeshError | undefined;
  let refuse: ((error: MeshError) => void) | undefined;
  let everConnected = false;
  const registrations = new Set<InstanceRegistration>();
  // Like Consul's agent and the sidecar: an instance the registry lost (removed by hand, by
  // deregisterAfter, or with its store) is registered again; only deregister() or close() end it.
  function ensureRegistered(which: (registration: InstanceRegistration) => boolean): void {
    for (const registration of registrations) {
      if (!which(registration)) continue;
      registration.ensure().catch((error: unknown) => {
        logger.warn({ err: error, id: registration.id }, 'mesh sdk: could not register the instance again');
      });
    }
  }
  const watch = watchMesh({
    url: options.control,
    token: options.token,
    clock,
    logger,
    random,
    onSnapshot: () => clusters?.invalidateAll(),
    onChange: (change) => clusters?.invalidate(change),
    onState(connected) {
      // A control plane back after an outage may have lost what it knew (a store wiped, or one older
      // than store ids replaying only later changes): each reconnection asks it about our instances.
      if (connected && everConnected) ensureRegistered(() => true);
      if (connected) everConnected = true;
    },
    onError(error) {
      lastError = error;
      if (!error.retryable) refuse?.(error);
    },
  });
  const client = createControlClient({ url: options.control, token: options.token });

  try {
    await firstView(
      watch,
      clock,
      connectTimeoutMs,
      () => lastError,
      (reject) => {
        refuse = reject;
      },
    );
  } catch (error) {
    await watch.close().catch(() => {});
    await client.close().catch(() => {});
    await tracing?.close().catch(() => {});
    throw error;
  }
  refuse = undefined;

  const policy = createPolicyLookup(watch);
  clusters = new ClusterSet(
    {
      instancesOf: (service) => watch.instancesOf(service),
      policy,
      serviceNames: () => watch.serviceNames(),
    },
    { clock, logger, random },
  );
  const liveClusters = clusters;
  const interceptors = createInterceptors();
  const unsubscribeRegistrations = watch.subscribe(() => {
    if (watch.connected()) ensureRegistered((registration) => watch.instance(registration.id) === undefined);
  });
  const deps = { clock, random, logger };
  let closing: Promise<void> | undefined;
  let uninstallSignals: (() => void) | undefined;

  const closedError = (what: string) =>
    new MeshError('INTERNAL', `mesh.${what}() was called after mesh.close()`);

  const mesh: Mesh = {
    interceptors,
    async register(registerOptions) {
      if (closing) throw closedError('register');
      const registration = await registerInstance(registerOptions, {
        client,
        clock,
        logger,
        onGone: (gone) => registrations.delete(gone),
      });
      if (closing) {
        await registration.deregister().catch(() => {});
        throw closedError('register');
      }
      registrations.add(registration);
      return registration;
    },
    async fetch(service, path, init) {
      if (closing) throw closedError('fetch');
      const request = await interceptors.runRequest(createMeshRequest(service, path, init));
      const outcome: Promise<Response> =
        tracing === undefined
          ? (async () => exchange(liveClusters.get(request.service), request, deps))()
          : traced(tracing, request);
      return interceptors.runResponse(outcome, request);
    },
    traceContext: (headers) => traceContextOf(headers),
    instances: (service) => watch.instancesOf(service),
    policy,
    connected: () => watch.connected(),
    close() {
      closing ??= (async () => {
        uninstallSignals?.();
        unsubscribeRegistrations();
        await Promise.all(
          [...registrations].map((registration) =>
            registration.deregister().catch((error) => {
              logger.warn({ err: error, id: registration.id }, 'mesh sdk: could not deregister on close');
            }),
          ),
        );
        await watch.close();
        await liveClusters.close();
        await client.close();
        await tracing?.close();
      })();
      return closing;
    },
  };
  /** One call with its CLIENT span: the span ends when the response head arrives or the call fails. */
  async function traced(tracing: SdkTracing, request: MeshRequest): Promise<Response> {
    const hop = tracing.begin(request.headers);
    const span = hop.span;
    if (span !== null) describeCall(span, request.method, request.path, request.service);
    try {
      const response = await exchange(liveClusters.get(request.service), request, deps, span);
      hop.end(response.status);
      return response;
    } catch (error) {
      if (isMeshError(error)) hop.end(0, error.code);
      else {
        span?.setAttribute('error.type', (error as Error | undefined)?.name ?? 'Error');
        hop.end(0);
      }
      throw error;
    }
  }

  if (options.handleSignals) uninstallSignals = onShutdownSignal(() => mesh.close());
  return mesh;
}

/** Waits for the watch's first view, the timeout, or a refusal, whichever comes first. */
function firstView(
  watch: MeshWatch,
  clock: Clock,
  timeoutMs: number,
  lastError: () => MeshError | undefined,
  onRefusal: (reject: (error: MeshError) => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: TimerHandle | undefined;
    const settle = (error?: unknown) => {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      if (error === undefined) resolve();
      else reject(error);
    };
    onRefusal((error) => settle(error));
    timer = clock.setTimeout(() => {
      const last = lastError();
      const reason = last ? last.message : `no view of the mesh within ${timeoutMs} ms`;
      settle(
        new MeshError('CONTROL_PLANE_UNAVAILABLE', `connect: ${reason}`, {
          details: [{ message: reason }],
          cause: last,
        }),
      );
    }, timeoutMs);
    watch.ready().then(
      () => settle(),
      (error) => settle(error),
    );
  });
}
