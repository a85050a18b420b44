import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import type { Stats } from './types.ts';

export interface Poll<T> {
  data: T | undefined;
  error: Error | undefined;
  reload(): void;
}

/** GETs `path` now and every `intervalMs` (0: once) while mounted; a new path or auth starts over. */
export function usePoll<T>(
  api: Api,
  path: string | undefined,
  intervalMs: number,
  authVersion: number,
): Poll<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const answer = await api.get<T>(path);
        if (!live) return;
        setData(answer);
        setError(undefined);
      } catch (failure) {
        if (live) setError(failure as Error);
      }
      if (live && intervalMs > 0) timer = setTimeout(load, intervalMs);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, path, intervalMs, authVersion, tick]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, reload };
}

export interface StatsSample {
  /** Seconds since the epoch (uPlot's x unit). */
  t: number;
  stats: Stats;
}

export interface StatsHistory {
  samples: StatsSample[];
  error: Error | undefined;
}

const HISTORY_LIMIT = 300;

/** The mesh statistics over a short window, polled and kept as a series for the charts. */
export function useStatsHistory(api: Api, authVersion: number, intervalMs = 2000): StatsHistory {
  const samples = useRef<StatsSample[]>([]);
  const [history, setHistory] = useState<StatsHistory>({ samples: [], error: undefined });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const stats = await api.get<Stats>('/api/v1/stats?window=30s');
        if (!live) return;
        const next = samples.current.concat({ t: Date.now() / 1000, stats });
        samples.current = next.length > HISTORY_LIMIT ? next.slice(-HISTORY_LIMIT) : next;
        setHistory({ samples: samples.current, error: undefined });
      } catch (error) {
        if (live) setHistory({ samples: samples.current, error: error as Error });
      }
      if (live) timer = setTimeout(load, intervalMs);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, authVersion, intervalMs]);
  return history;
}
