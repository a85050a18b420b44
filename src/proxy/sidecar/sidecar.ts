import { createControlClient } from '../../client/index.ts';
import { createJsonLogger, systemClock } from '../../core/index.ts';
import { createHttp1Transport } from '../control-link/index.ts';
import { type ListenerAddress, startDataPlane } from '../data-plane/index.ts';
import { type SidecarOptions, sidecarRegistration, sidecarSettingsOf } from './options.ts';
import { keepRegistered } from './registration.ts';

/** A running sidecar. */
export interface Sidecar {
  /** Mesh → app; the address registered for the instance. */
  readonly inbound: ListenerAddress;
  /** App → mesh: an HTTP proxy (`HTTP_PROXY`), `Host: <service>`, or `/v1.0/invoke/<service>/method/…`. */
  readonly outbound: ListenerAddress;
  readonly instanceId: string;
  /** Whether the instance is registered now (false while the control plane has not been reached yet). */
  registered(): boolean;
  /** The worker processes' pids; empty when the listeners run in this process. */
  workerPids(): number[];
  /** `http://host:port/metrics` when a metrics port was asked for. */
  readonly metricsUrl: string | undefined;
  /**
   * Deregisters the instance (so peers stop sending), keeps serving for the propagation delay, then
   * drains both listeners (within the drain timeout) and stops. Safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Starts a sidecar beside an app: the inbound and outbound listeners, fed by the watch on the control
 * plane, and the app's registration with a health check of the app. Throws BAD_REQUEST for bad
 * options, or when the control plane refuses the registration; a control plane that cannot be
 * reached is retried with backoff in the background, and meanwhile the sidecar serves.
 */
export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const settings = sidecarSettingsOf(options);
  const logger = options.logger ?? createJsonLogger({ level: 'silent' });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  let onConnected = (): void => {};
  const dataPlane = await startDataPlane({
    control: settings.control,
    token: settings.token,
    plan: {
      listeners: [
        {
          kind: 'inbound',
          host: settings.host,
          port: settings.inboundPort,
          app: settings.app,
          service: settings.service,
        },
        { kind: 'outbound', host: settings.host, port: settings.outboundPort },
      ],
      drainTimeoutMs: settings.drainTimeout,
      busyPollMs: settings.busyPoll,
    },
    workers: settings.workers,
    observability: {
      tracing: { service: settings.service, sampleRatio: settings.sampleRatio },
      accessLog: settings.accessLog,
      metricsPort: settings.metricsPort,
      metricsHost: settings.host,
    },
    logger,
    logLevel: options.logLevel,
    // Not `clock`: without a clock of the caller's, the proxy takes its precise one (sub-millisecond
    // latencies for the ewma balancer, the metrics and the busy polling's reply times).
    clock: options.clock,
    random,
    backoff: options.backoff,
    onConnected: () => onConnected(),
  });
  const [inbound, outbound] = dataPlane.listeners as [ListenerAddress, ListenerAddress];
  const registration = sidecarRegistration(settings, inbound);
  const instanceId = registration.id!;
  const client = createControlClient({
    url: settings.control,
    token: settings.token,
    timeoutMs: 5_000,
    transport: createHttp1Transport,
  });
  const keeper = keepRegistered(registration, { client, clock, logger, random, backoff: options.backoff });
  const { watch } = dataPlane;
  // Like Consul's agent, the sidecar puts its instance back when the registry lost it (removed by
  // hand, or a store that lost it); only the sidecar's own shutdown takes it out for good.
  const unsubscribe = watch.subscribe(() => {
    if (watch.connected() && watch.instance(instanceId) === undefined) keeper.ensure();
  });
  // The view alone cannot always tell after a reconnection: a control plane restarted with an empty
  // store answers with a snapshot (its store id differs from the view's), but one older than store
  // ids replays only the changes after our revision, so our view keeps the instance it lost. Each
  // reconnection asks the control plane itself.
  onConnected = () => keeper.ensure();

  async function stop(): Promise<void> {
    unsubscribe();
    const removed = await keeper.stop();
    if (removed && settings.propagationDelay > 0) {
      logger.info({ ms: settings.propagationDelay }, 'deregistered; serving while peers learn of it');
      await new Promise<void>((resolve) => clock.setTimeout(resolve, settings.propagationDelay));
    }
    logger.info({ timeoutMs: settings.drainTimeout }, 'draining');
    await dataPlane.close();
    await client.close();
  }

  try {
    await keeper.started;
  } catch (error) {
    await stop();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    inbound,
    outbound,
    instanceId,
    registered: () => keeper.registered(),
    workerPids: () => dataPlane.workerPids(),
    metricsUrl: dataPlane.metrics?.url,
    close() {
      closing ??= stop();
      return closing;
    },
  };
}
