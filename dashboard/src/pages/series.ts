/** Chart series from the stats history: a service's or the whole mesh's figures over time. */
import type { StatsSample } from '../hooks.ts';
import type { Figures } from '../types.ts';

export interface FigureSeries {
  traffic: (number | null)[][];
  latency: (number | null)[][];
}

export function figureSeries(samples: StatsSample[], service?: string): FigureSeries {
  const t: number[] = [];
  const rps: (number | null)[] = [];
  const errors: (number | null)[] = [];
  const p50: (number | null)[] = [];
  const p95: (number | null)[] = [];
  const p99: (number | null)[] = [];
  for (const sample of samples) {
    const figures: Figures | undefined = service ? sample.stats.services[service] : sample.stats.mesh;
    t.push(sample.t);
    rps.push(figures ? figures.rps : 0);
    errors.push(figures ? figures.errorRate * 100 : 0);
    p50.push(figures?.p50Ms ?? null);
    p95.push(figures?.p95Ms ?? null);
    p99.push(figures?.p99Ms ?? null);
  }
  return { traffic: [t, rps, errors], latency: [t, p50, p95, p99] };
}
