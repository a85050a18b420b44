import type { Logger } from 'pino';
import { type Clock, type ServicePolicy, systemClock } from '../core/index.ts';
import type { DiscoverySource } from './discovery/index.ts';
import {
  createGatewayListener,
  createInboundListener,
  createOutboundListener,
  type InboundListenerOptions,
  type ListenerOptions,
  type ProxyListener,
} from './listeners/index.ts';
import { ClusterManager, type PoolOptions } from './upstream/index.ts';

export interface ProxyDeps {
  source: DiscoverySource;
  logger: Logger;
  clock?: Clock;
  /** Policy for services the source has none for (default: Envoy-like defaults, see defaultServicePolicy). */
  defaultPolicy?: (service: string) => ServicePolicy;
  pool?: PoolOptions;
  /** Uniform in [0, 1), for balancers and retry jitter (default Math.random). */
  random?: () => number;
}

/** Options of an inbound listener; the logger and clock come from the proxy. */
export type InboundOptions = Omit<InboundListenerOptions, 'logger' | 'clock'>;

/** One data plane: its clusters (shared by its listeners) and its listeners. */
export interface TrellisProxy {
  readonly clusters: ClusterManager;
  /** Routes by the route table (host, path, method, headers). */
  gateway(options: ListenerOptions): Promise<ProxyListener>;
  /** The sidecar's app → mesh side: the service is named by the request (HTTP proxy, Host, Dapr path). */
  outbound(options: ListenerOptions): Promise<ProxyListener>;
  /** The sidecar's mesh → app side: everything to one local app. */
  inbound(options: InboundOptions): Promise<ProxyListener>;
  /** Closes every listener (draining them) and every upstream connection. */
  close(): Promise<void>;
}

export function createProxy(deps: ProxyDeps): TrellisProxy {
  const clock = deps.clock ?? systemClock;
  const { logger, random } = deps;
  const clusters = new ClusterManager({
    source: deps.source,
    clock,
    logger,
    defaultPolicy: deps.defaultPolicy,
    pool: deps.pool,
    random,
  });
  const listeners = new Set<ProxyListener>();
  let closed = false;

  async function track(opening: Promise<ProxyListener>): Promise<ProxyListener> {
    const listener = await opening;
    if (closed) {
      await listener.close();
      throw new Error('the proxy is closed');
    }
    listeners.add(listener);
    return {
      get port() {
        return listener.port;
      },
      get host() {
        return listener.host;
      },
      get connections() {
        return listener.connections;
      },
      async close() {
        listeners.delete(listener);
        await listener.close();
      },
    };
  }

  return {
    clusters,
    gateway: (options) => track(createGatewayListener({ ...options, clusters, clock, logger, random })),
    outbound: (options) => track(createOutboundListener({ ...options, clusters, clock, logger, random })),
    inbound: (options) =>
      track(
        createInboundListener({
          ...options,
          policy:
            options.policy ??
            (options.service === undefined ? undefined : clusters.policyOf(options.service)),
          pool: options.pool ?? deps.pool,
          clock,
          logger,
        }),
      ),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...listeners].map((listener) => listener.close()));
      listeners.clear();
      clusters.close();
    },
  };
}
