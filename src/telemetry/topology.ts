/**
 * The service graph: nodes are services, edges caller → callee with request rate, error rate and
 * latency percentiles over a chosen window, as measured by the caller. Edges are recorded as calls
 * are observed (see span-metrics.ts) into fixed-memory sliding windows; a graph is read from them on
 * demand, with every service the registry knows as a node even when it has no traffic.
 */
import { MAX_WINDOW_MS, newAccumulator, SeriesMap, type WindowFigures } from './latency-window.ts';
import type { MeshStats, StatsFigures } from './stats.ts';

export interface TopologyEdge extends WindowFigures {
  source: string;
  target: string;
}

export interface TopologyNode {
  id: string;
  /** Known to the registry (false: seen only in spans). */
  registered: boolean;
  /** Requests the service handled in the window, when stats are given. */
  stats?: StatsFigures;
}

export interface Topology {
  windowMs: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface ServiceGraphOptions {
  now?: () => number;
  /** Edges tracked at once (default 50,000); the least recently active goes first. */
  maxEdges?: number;
}

export interface GraphQuery {
  windowMs: number;
  /** The registry's services: nodes even without traffic. */
  services?: Iterable<string>;
  /** Adds each node's own request figures. */
  stats?: MeshStats;
}

const SEPARATOR = '\u0000';

export class ServiceGraph {
  private readonly now: () => number;
  private readonly edges: SeriesMap<string>;

  constructor(options: ServiceGraphOptions = {}) {
    this.now = options.now ?? Date.now;
    this.edges = new SeriesMap(options.maxEdges ?? 50_000);
  }

  /** One call from `caller` to `callee` that finished at `atMs` (default now). */
  record(
    caller: string,
    callee: string,
    durationMs: number,
    failed: boolean,
    atMs?: number,
    weight = 1,
  ): void {
    if (caller === callee) return;
    const now = this.now();
    const at = atMs === undefined || atMs > now ? now : atMs;
    if (at < now - MAX_WINDOW_MS) return;
    this.edges.obtain(caller + SEPARATOR + callee).record(at, durationMs, failed, weight);
  }

  get edgeCount(): number {
    return this.edges.size;
  }

  /** Nodes by name; edges with traffic in the window, busiest first. */
  graph(query: GraphQuery): Topology {
    const now = this.now();
    const { windowMs } = query;
    const registered = new Set(query.services ?? []);
    const names = new Set(registered);
    if (query.stats) for (const name of query.stats.activeServices()) names.add(name);
    const edges: TopologyEdge[] = [];
    const acc = newAccumulator();
    for (const [key, series] of this.edges.entries(now)) {
      if (!series.activeIn(now, windowMs)) continue;
      const figures = series.figures(now, windowMs, acc);
      if (figures.requests === 0) continue;
      const split = key.indexOf(SEPARATOR);
      const source = key.slice(0, split);
      const target = key.slice(split + 1);
      names.add(source);
      names.add(target);
      edges.push({ source, target, ...figures });
    }
    edges.sort(
      (a, b) =>
        b.requests - a.requests || a.source.localeCompare(b.source) || a.target.localeCompare(b.target),
    );
    const nodes = [...names].sort().map((id): TopologyNode => {
      const node: TopologyNode = { id, registered: registered.has(id) };
      if (query.stats) node.stats = query.stats.serviceFigures(id, windowMs);
      return node;
    });
    return { windowMs, nodes, edges };
  }
}

export function createServiceGraph(options: ServiceGraphOptions = {}): ServiceGraph {
  return new ServiceGraph(options);
}
