import type { Clock, Logger } from '../../core/index.ts';
import { createPreciseClock } from '../../core/index.ts';
import type { DiscoverySource } from '../discovery/index.ts';
import type { Resolution } from '../engine/index.ts';
import { MESH_ERRORS } from '../error-responses.ts';
import type { RequestHead } from '../http1/index.ts';
import {
  type AbsoluteTarget,
  DAPR_PREFIX,
  type DaprTarget,
  hostOf,
  splitAbsolute,
  splitDapr,
} from '../routing/index.ts';
import { ClusterManager } from '../upstream/index.ts';
import { type ListenerOptions, listen, type ProxyListener } from './listener.ts';

export interface OutboundListenerOptions extends ListenerOptions {
  logger: Logger;
  clock?: Clock;
  clusters?: ClusterManager;
  source?: DiscoverySource;
  random?: () => number;
}

/**
 * The sidecar's outbound resolver: the app names the service (a) Dapr style,
 * `/v1.0/invoke/{service}/method/{path}` → `/{path}`; (b) as an HTTP proxy, with an absolute-form
 * target `http://orders/items` → `/items` (the app sets HTTP_PROXY); or (c) by the Host header,
 * `orders` or `orders:port`. A trailing dot is dropped (`orders.`) and the name is passed as written:
 * the cluster manager resolves it case-insensitively, as DNS names are (`Orders`, `ORDERS`).
 */
export class OutboundRouter {
  private readonly absolute: AbsoluteTarget = { authority: '', path: '' };
  private readonly dapr: DaprTarget = { service: '', path: '' };

  constructor(private readonly clusters: ClusterManager) {}

  readonly resolve = (head: RequestHead, out: Resolution): void => {
    const target = head.target;
    let service: string;
    if (target.charCodeAt(0) === 47 /* / */) {
      if (target.charCodeAt(1) === 118 /* v */ && target.startsWith(DAPR_PREFIX)) {
        // As on the control plane: a malformed invocation is refused, not sent on by its Host.
        if (!splitDapr(target, this.dapr)) {
          out.error = MESH_ERRORS.badDaprTarget;
          return;
        }
        service = hostOf(this.dapr.service);
        out.target = this.dapr.path;
      } else if (head.host !== undefined) {
        service = hostOf(head.host);
      } else {
        out.error = MESH_ERRORS.notAService;
        return;
      }
    } else if (splitAbsolute(target, this.absolute)) {
      const authority = this.absolute.authority;
      service = hostOf(authority);
      out.target = this.absolute.path;
      if (head.host !== authority) out.host = authority;
    } else {
      out.error = MESH_ERRORS.notAService;
      return;
    }
    const cluster = this.clusters.get(service);
    if (cluster === undefined) {
      out.error = this.clusters.errorsFor(service).noHealthy;
      return;
    }
    out.cluster = cluster;
    out.settings = cluster.settings;
  };
}

/** The sidecar's outbound listener (app → mesh); see OutboundRouter for how the target is named. */
export async function createOutboundListener(options: OutboundListenerOptions): Promise<ProxyListener> {
  const clock = options.clock ?? createPreciseClock();
  const { logger } = options;
  let owned: ClusterManager | undefined;
  let clusters = options.clusters;
  if (clusters === undefined) {
    if (options.source === undefined)
      throw new TypeError('createOutboundListener needs clusters or a source');
    owned = new ClusterManager({ source: options.source, clock, logger, random: options.random });
    clusters = owned;
  }
  const router = new OutboundRouter(clusters);
  try {
    return await listen(options, {
      clock,
      logger,
      resolve: router.resolve,
      trustForwarded: true,
      random: options.random,
      onClosed: () => owned?.close(),
    });
  } catch (error) {
    owned?.close();
    throw error;
  }
}
