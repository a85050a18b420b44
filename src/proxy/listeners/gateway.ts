import type { Clock, Logger, Route } from '../../core/index.ts';
import { createPreciseClock } from '../../core/index.ts';
import { type RouteStatsHolder, statsSlots } from '../../telemetry/proxy-stats.ts';
import type { DiscoverySource } from '../discovery/index.ts';
import type { Resolution } from '../engine/index.ts';
import { MESH_ERRORS } from '../error-responses.ts';
import type { RequestHead } from '../http1/index.ts';
import {
  type AbsoluteTarget,
  type CompiledRoute,
  compileRoutes,
  hostName,
  normalizePath,
  type RouteTable,
  splitAbsolute,
  stripPrefix,
} from '../routing/index.ts';
import {
  type Cluster,
  ClusterManager,
  type ExchangeSettings,
  exchangeSettings,
  hasOverrides,
} from '../upstream/index.ts';
import { type ListenerOptions, listen, type ProxyListener } from './listener.ts';

export interface GatewayListenerOptions extends ListenerOptions {
  logger: Logger;
  clock?: Clock;
  /** The clusters to route to (shared with the proxy's other listeners)… */
  clusters?: ClusterManager;
  /** …or a source to build them from (they are closed with the listener). */
  source?: DiscoverySource;
  random?: () => number;
}

/**
 * What the gateway keeps per route: its cluster, its settings when it overrides the policy, and the
 * slots of its metrics.
 */
class RouteTarget implements RouteStatsHolder {
  readonly stats = statsSlots();
  readonly routeName: string;
  readonly httpRoute: string | undefined;
  private cluster: Cluster | undefined = undefined;
  private generation = -1;
  private settings: ExchangeSettings | undefined = undefined;
  private settingsVersion = -1;
  private settingsOf: Cluster | undefined = undefined;
  private readonly overrides: boolean;

  constructor(
    readonly route: Route,
    private readonly clusters: ClusterManager,
    private readonly logger: Logger,
  ) {
    this.overrides = hasOverrides(route);
    this.routeName = route.name;
    this.httpRoute = httpRouteOf(route);
  }

  clusterOf(): Cluster | undefined {
    // Routes are configuration, so a cluster per routed service is bounded: create it even when the
    // service has no instance yet. Asked again after a change of the mesh: the service may since have
    // registered under the same name in another case (names resolve case-insensitively).
    if (this.generation !== this.clusters.generation) {
      this.generation = this.clusters.generation;
      this.cluster = this.clusters.get(this.route.service, true);
    }
    return this.cluster;
  }

  settingsFor(cluster: Cluster): ExchangeSettings {
    if (!this.overrides) return cluster.settings;
    if (
      this.settingsVersion !== cluster.version ||
      this.settingsOf !== cluster ||
      this.settings === undefined
    ) {
      try {
        this.settings = exchangeSettings(cluster.policy, this.route);
      } catch (error) {
        this.logger.warn({ err: error, route: this.route.name }, 'proxy: invalid route overrides ignored');
        this.settings = cluster.settings;
      }
      this.settingsVersion = cluster.version;
      this.settingsOf = cluster;
    }
    return this.settings;
  }
}

/**
 * The gateway's resolver: the route table (recompiled when the routes change) picks the route; the
 * route names the cluster and the rewrites.
 */
export class GatewayRouter {
  private table!: RouteTable<RouteTarget>;
  private routes: readonly Route[] | undefined;
  private routesJson = '';
  private readonly absolute: AbsoluteTarget = { authority: '', path: '' };
  private readonly unsubscribe: () => void;

  constructor(
    private readonly clusters: ClusterManager,
    private readonly logger: Logger,
  ) {
    this.compile();
    this.unsubscribe = clusters.onRefresh(() => this.compile());
  }

  readonly resolve = (head: RequestHead, out: Resolution): void => {
    let target = head.target;
    let host = head.host;
    if (target.charCodeAt(0) !== 47 /* / */) {
      const absolute = this.absolute;
      if (!splitAbsolute(target, absolute)) {
        out.error = MESH_ERRORS.noRoute;
        return;
      }
      target = absolute.path;
      out.target = target;
      if (host !== absolute.authority) out.host = absolute.authority;
      host = absolute.authority;
    }
    // Match, strip and forward the normalised path, so the upstream serves what the route matched.
    const normal = normalizePath(target);
    if (normal !== target) {
      target = normal;
      out.target = normal;
    }
    const table = this.table;
    const compiled: CompiledRoute<RouteTarget> | undefined = table.match(
      head.method,
      table.usesHosts && host !== undefined ? hostName(host) : undefined,
      target,
      head,
    );
    if (compiled === undefined) {
      out.error = MESH_ERRORS.noRoute;
      return;
    }
    const routeTarget = compiled.data;
    const cluster = routeTarget.clusterOf();
    if (cluster === undefined) {
      out.error = this.clusters.errorsFor(routeTarget.route.service).noHealthy;
      return;
    }
    out.cluster = cluster;
    out.settings = routeTarget.settingsFor(cluster);
    out.route = routeTarget;
    if (compiled.strip !== null) out.target = stripPrefix(target, compiled.strip);
    const rewriteHost = routeTarget.route.rewriteHost;
    if (rewriteHost !== undefined) out.host = rewriteHost;
  };

  close(): void {
    this.unsubscribe();
  }

  /** Recompiles when the route list changed (by identity, then by content). */
  private compile(): void {
    const routes = this.clusters.routes();
    if (routes === this.routes) return;
    const json = JSON.stringify(routes);
    this.routes = routes;
    if (this.table !== undefined && json === this.routesJson) return;
    this.routesJson = json;
    const { table, errors } = compileRoutes(
      routes,
      (route) => new RouteTarget(route, this.clusters, this.logger),
    );
    for (const error of errors) this.logger.warn(error, `proxy: route left out: ${error.message}`);
    this.table = table;
  }
}

/** The gateway: requests are routed by the route table (host, path, method, headers) to services. */
export async function createGatewayListener(options: GatewayListenerOptions): Promise<ProxyListener> {
  const clock = options.clock ?? createPreciseClock();
  const { logger } = options;
  let owned: ClusterManager | undefined;
  let clusters = options.clusters;
  if (clusters === undefined) {
    if (options.source === undefined) throw new TypeError('createGatewayListener needs clusters or a source');
    owned = new ClusterManager({ source: options.source, clock, logger, random: options.random });
    clusters = owned;
  }
  const router = new GatewayRouter(clusters, logger);
  try {
    return await listen(options, {
      clock,
      logger,
      resolve: router.resolve,
      trustForwarded: false,
      random: options.random,
      onClosed() {
        router.close();
        owned?.close();
      },
    });
  } catch (error) {
    router.close();
    owned?.close();
    throw error;
  }
}

/**
 * The path template a route matches, for spans' `http.route` (OpenTelemetry): an exact path as it
 * is, a prefix as `/prefix/*` (prefixes match whole segments); none for a regex or no path match,
 * which have no template.
 */
export function httpRouteOf(route: Route): string | undefined {
  const path = route.match.path;
  if (path === undefined) return undefined;
  if ('exact' in path) return path.exact;
  if ('prefix' in path) return path.prefix.endsWith('/') ? `${path.prefix}*` : `${path.prefix}/*`;
  return undefined;
}
