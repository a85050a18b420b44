import type { Clock, Logger, ServicePolicy } from '../../core/index.ts';
import { createPreciseClock } from '../../core/index.ts';
import type { Resolution } from '../engine/index.ts';
import { Cluster, defaultServicePolicy, type PoolOptions } from '../upstream/index.ts';
import { type ListenerOptions, listen, type ProxyListener } from './listener.ts';

export interface InboundListenerOptions extends ListenerOptions {
  /** The local app every request goes to. */
  app: { address: string; port: number };
  /** The service the app is an instance of (names the cluster; default `app`). */
  service?: string;
  /**
   * The service's policy: its timeouts and concurrency limits apply. Balancing, circuit breaking,
   * outlier detection and retries are off here (one endpoint; the caller's outbound side retries).
   */
  policy?: ServicePolicy;
  logger: Logger;
  clock?: Clock;
  pool?: PoolOptions;
}

/** The inbound policy: the service's timeouts and limits, with no retries or ejection. */
export function inboundPolicy(policy: ServicePolicy): ServicePolicy {
  return {
    ...policy,
    loadBalancer: { kind: 'round-robin' },
    circuitBreaker: { ...policy.circuitBreaker, enabled: false },
    outlierDetection: { ...policy.outlierDetection, enabled: false },
    retry: { ...policy.retry, maxAttempts: 1 },
  };
}

/** The sidecar's inbound listener (mesh → app): everything goes to the one local app. */
export async function createInboundListener(options: InboundListenerOptions): Promise<ProxyListener> {
  const clock = options.clock ?? createPreciseClock();
  const { logger } = options;
  const service = options.service ?? 'app';
  const cluster = new Cluster(service, inboundPolicy(options.policy ?? defaultServicePolicy(service)), {
    clock,
    logger,
    pool: options.pool,
  });
  const now = clock.now();
  cluster.setInstances([
    {
      id: `${service}-inbound-${options.app.address}-${options.app.port}`,
      service,
      address: options.app.address,
      port: options.app.port,
      tags: [],
      metadata: {},
      weight: 100,
      health: 'healthy',
      registeredAt: now,
      healthChangedAt: now,
    },
  ]);
  const resolve = (_head: unknown, out: Resolution): void => {
    out.cluster = cluster;
    out.settings = cluster.settings;
  };
  try {
    return await listen(options, {
      clock,
      logger,
      resolve,
      trustForwarded: true,
      onClosed: () => cluster.close(),
    });
  } catch (error) {
    cluster.close();
    throw error;
  }
}
