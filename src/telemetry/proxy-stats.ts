import { DIRECTIONS, type Direction, UNKNOWN_SERVICE } from './names.ts';
import { METHOD_COUNT, RequestStats } from './request-stats.ts';

/**
 * Something the request path already holds (a cluster, a gateway route) that keeps the stats its
 * traffic records into, one slot per direction, filled on first use: after that the request path
 * reaches its counters by an array index, with no lookup by name.
 */
export interface StatsHolder {
  readonly stats: Array<RequestStats | undefined>;
}

/** The empty slots for a StatsHolder. */
export function statsSlots(): Array<RequestStats | undefined> {
  return DIRECTIONS.map(() => undefined);
}

export interface ClusterStatsHolder extends StatsHolder {
  /** The service name. */
  readonly name: string;
}

export interface RouteStatsHolder extends StatsHolder {
  readonly routeName: string;
  /** The route's path template for spans' `http.route` (`/api/*`), when its match has one. */
  readonly httpRoute: string | undefined;
}

/** Every RequestStats of one proxy, by (service, route, direction). */
export class ProxyStats {
  private readonly byKey = new Map<string, RequestStats>();

  /** The stats of (service, route, direction), created on first use. */
  get(service: string, route: string, direction: Direction): RequestStats {
    const key = `${direction}\u0000${service}\u0000${route}`;
    let stats = this.byKey.get(key);
    if (stats === undefined) {
      stats = new RequestStats(service, route, direction);
      this.byKey.set(key, stats);
    }
    return stats;
  }

  values(): IterableIterator<RequestStats> {
    return this.byKey.values();
  }
}

/** What one listener records into: the proxy's stats with the listener's direction bound. */
export class ListenerStats {
  readonly index: number;
  private unroutedStats: RequestStats | undefined;

  constructor(
    private readonly table: ProxyStats,
    readonly direction: Direction,
  ) {
    this.index = DIRECTIONS.indexOf(direction);
  }

  /** The stats of exchanges refused before they named a service (no route, unknown service). */
  unrouted(): RequestStats {
    this.unroutedStats ??= this.table.get(UNKNOWN_SERVICE, '', this.direction);
    return this.unroutedStats;
  }

  /** A request head the parser refused (400, 431, 501, 505): unknown service, method `other`. */
  refused(status: number): void {
    const stats = this.unrouted();
    stats.record(METHOD_COUNT - 1, status, 0);
    stats.recordError('BAD_REQUEST');
  }

  /** The stats of an exchange to `cluster`, through `route` when a gateway route matched. */
  statsOf(cluster: ClusterStatsHolder, route: RouteStatsHolder | null): RequestStats {
    const holder: StatsHolder = route ?? cluster;
    const found = holder.stats[this.index];
    if (found !== undefined) return found;
    const stats = this.table.get(cluster.name, route === null ? '' : route.routeName, this.direction);
    holder.stats[this.index] = stats;
    return stats;
  }
}
