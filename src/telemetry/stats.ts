/**
 * Mesh-wide and per-service request statistics over sliding windows: total and failed requests,
 * error rate, request rate, average and p50/p95/p99 latency. The control plane feeds it from the
 * server spans it collects (one observation per request a service handled); memory is fixed per
 * service (see latency-window.ts) and the number of services is capped.
 */
import {
  figuresOf,
  LatencySeries,
  MAX_WINDOW_MS,
  newAccumulator,
  SeriesMap,
  type WindowFigures,
} from './latency-window.ts';

export type StatsFigures = WindowFigures;

export interface MeshStatsOptions {
  /** Epoch ms; default Date.now. */
  now?: () => number;
  /** Services tracked at once (default 10,000); the least recently active goes first. */
  maxServices?: number;
}

export interface StatsSnapshot {
  windowMs: number;
  mesh: StatsFigures;
  services: Record<string, StatsFigures>;
}

export class MeshStats {
  private readonly now: () => number;
  private readonly mesh = new LatencySeries();
  private readonly services: SeriesMap<string>;

  constructor(options: MeshStatsOptions = {}) {
    this.now = options.now ?? Date.now;
    this.services = new SeriesMap(options.maxServices ?? 10_000);
  }

  /** One request handled by `service`, finished at `atMs` (default now; never later than now). */
  record(service: string, durationMs: number, failed: boolean, atMs?: number, weight = 1): void {
    const now = this.now();
    const at = atMs === undefined || atMs > now ? now : atMs;
    if (at < now - MAX_WINDOW_MS) return;
    this.mesh.record(at, durationMs, failed, weight);
    this.services.obtain(service).record(at, durationMs, failed, weight);
  }

  meshFigures(windowMs: number): StatsFigures {
    return this.mesh.figures(this.now(), windowMs);
  }

  /** Figures for one service; all zero (percentiles null) when it had no requests in the window. */
  serviceFigures(service: string, windowMs: number): StatsFigures {
    const series = this.services.get(service);
    return series ? series.figures(this.now(), windowMs) : emptyFigures();
  }

  /** The mesh, every service with requests in the last hour, and every service in `include`. */
  snapshot(windowMs: number, include: Iterable<string> = []): StatsSnapshot {
    const now = this.now();
    const services: Record<string, StatsFigures> = {};
    for (const name of include) services[name] = emptyFigures();
    for (const [name, series] of this.services.entries(now)) services[name] = series.figures(now, windowMs);
    return { windowMs, mesh: this.mesh.figures(now, windowMs), services: sortedKeys(services) };
  }

  /** Services with requests in the last hour. */
  activeServices(): string[] {
    return this.services.entries(this.now()).map(([name]) => name);
  }

  /** failed / requests over the window; undefined when there were no requests (no data). */
  errorRate(service: string | undefined, windowMs: number): number | undefined {
    const figures =
      service === undefined ? this.meshFigures(windowMs) : this.serviceFigures(service, windowMs);
    return figures.requests > 0 ? figures.errorRate : undefined;
  }

  /** p99 latency in ms over the window; undefined when there were no requests. */
  p99(service: string | undefined, windowMs: number): number | undefined {
    const figures =
      service === undefined ? this.meshFigures(windowMs) : this.serviceFigures(service, windowMs);
    return figures.p99Ms ?? undefined;
  }
}

export function createMeshStats(options: MeshStatsOptions = {}): MeshStats {
  return new MeshStats(options);
}

/** Figures of no requests at all. */
export function emptyFigures(): StatsFigures {
  return figuresOf(newAccumulator(), 0);
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  const sorted: Record<string, T> = {};
  for (const key of Object.keys(record).sort()) sorted[key] = record[key]!;
  return sorted;
}
