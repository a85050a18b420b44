import { readdirSync, readFileSync } from 'node:fs';
import {
  type IntervalHistogram,
  monitorEventLoopDelay,
  PerformanceObserver,
  constants as perf,
} from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Aggregation, Family, FamilySource, LabelSet, Sample } from './exposition/index.ts';

/**
 * The process's metrics (CPU, memory, file descriptors, event loop, heap, GC) under prom-client's
 * default names, help texts, types, units and cluster aggregations, so dashboards built for
 * prom-client keep working; without prom-client (its import alone costs a sidecar ~10 MiB).
 * Differences: the CPU counters count from the process's start (prom-client's from the collector's),
 * `process_start_time_seconds` is kept with --workers (the earliest; prom-client omits it),
 * `nodejs_eventloop_lag_seconds` is measured during the scrape (prom-client's is the previous
 * scrape's), the event-loop delay gauges are left out when no delay was sampled since the last
 * scrape, and the `*_total` gauges prom-client adds beside `nodejs_active_*{type}` are not (promtool
 * rejects gauges named `_total`).
 */
export interface ProcessMetrics extends FamilySource {
  /** Stops the event-loop delay monitor and the GC observer. */
  close(): void;
}

const GC_BUCKETS_SECONDS = [0.001, 0.01, 0.1, 1, 2, 5];
const GC_KINDS = ['major', 'minor', 'incremental', 'weakcb'] as const;
const GC_KIND_INDEX = new Map<number, number>([
  [perf.NODE_PERFORMANCE_GC_MAJOR, 0],
  [perf.NODE_PERFORMANCE_GC_MINOR, 1],
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL, 2],
  [perf.NODE_PERFORMANCE_GC_WEAKCB, 3],
]);

const LINUX = process.platform === 'linux';
const NO_LABELS: LabelSet = Object.freeze({});

const NAMES = {
  cpuUser: 'process_cpu_user_seconds_total',
  cpuSystem: 'process_cpu_system_seconds_total',
  cpu: 'process_cpu_seconds_total',
  startTime: 'process_start_time_seconds',
  resident: 'process_resident_memory_bytes',
  virtual: 'process_virtual_memory_bytes',
  heap: 'process_heap_bytes',
  openFds: 'process_open_fds',
  maxFds: 'process_max_fds',
  lag: 'nodejs_eventloop_lag_seconds',
  lagMin: 'nodejs_eventloop_lag_min_seconds',
  lagMax: 'nodejs_eventloop_lag_max_seconds',
  lagMean: 'nodejs_eventloop_lag_mean_seconds',
  lagStddev: 'nodejs_eventloop_lag_stddev_seconds',
  lagP50: 'nodejs_eventloop_lag_p50_seconds',
  lagP90: 'nodejs_eventloop_lag_p90_seconds',
  lagP99: 'nodejs_eventloop_lag_p99_seconds',
  resources: 'nodejs_active_resources',
  handles: 'nodejs_active_handles',
  requests: 'nodejs_active_requests',
  heapTotal: 'nodejs_heap_size_total_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  external: 'nodejs_external_memory_bytes',
  spaceTotal: 'nodejs_heap_space_size_total_bytes',
  spaceUsed: 'nodejs_heap_space_size_used_bytes',
  spaceAvailable: 'nodejs_heap_space_size_available_bytes',
  version: 'nodejs_version_info',
  gc: 'nodejs_gc_duration_seconds',
} as const;

/** Reads `Max open files` (the soft limit) once: it does not change under a running process. */
function readMaxFds(): number | undefined {
  if (!LINUX) return undefined;
  try {
    for (const line of readFileSync('/proc/self/limits', 'utf8').split('\n')) {
      if (line.startsWith('Max open files')) {
        const limit = Number(line.split(/ {2,}/)[1]);
        return Number.isFinite(limit) ? limit : undefined;
      }
    }
  } catch {
    // No procfs: the family is left out.
  }
  return undefined;
}

/** VmRSS, VmSize and VmData from /proc/self/status, in bytes. */
function readProcStatus(): { rss: number; virtual: number; data: number } | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (field: string): number => {
      const at = status.indexOf(`\n${field}:`);
      return at < 0
        ? Number.NaN
        : Number.parseInt(status.slice(at + field.length + 2).trimStart(), 10) * 1024;
    };
    return { rss: kib('VmRSS'), virtual: kib('VmSize'), data: kib('VmData') };
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    // readdirSync's own descriptor is in the listing.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** Counts by type name, as `{type}` samples. */
function byType(names: Iterable<string>): Sample[] {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return Array.from(counts, ([type, value]) => ({ labels: { type }, value }));
}

function constructorNames(objects: readonly unknown[]): string[] {
  const names: string[] = [];
  for (const object of objects) {
    const name = (object as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    if (typeof name === 'string') names.push(name);
  }
  return names;
}

const internals = process as unknown as {
  _getActiveHandles?: () => unknown[];
  _getActiveRequests?: () => unknown[];
};

function gauge(name: string, help: string, aggregation: Aggregation, samples: Sample[]): Family {
  return { name, help, type: 'gauge', aggregation, samples };
}

function counter(name: string, help: string, value: number): Family {
  return { name, help, type: 'counter', aggregation: 'sum', samples: [{ labels: NO_LABELS, value }] };
}

const one = (value: number | undefined): Sample[] =>
  value === undefined || Number.isNaN(value) ? [] : [{ labels: NO_LABELS, value }];

function nextTurn(): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => setImmediate(() => resolve((performance.now() - start) / 1000)));
}

/** prom-client's event-loop delay resolution: the control plane's delay figures stay comparable. */
const PROM_CLIENT_EVENT_LOOP_RESOLUTION_MS = 10;

export interface ProcessMetricsOptions {
  /**
   * How often the event-loop delay is sampled, in ms (default prom-client's 10). Node samples it with
   * a timer that wakes the event loop each time, busy or not.
   */
  eventLoopResolutionMs?: number;
}

export function createProcessMetrics(options: ProcessMetricsOptions = {}): ProcessMetrics {
  // Rounded down: rounding to nearest would put a young process's start up to half a second in the future.
  const startTime = Math.floor(Date.now() / 1000 - process.uptime());
  const maxFds = readMaxFds();
  const [major, minor, patch] = process.version.slice(1).split('.');
  const versionLabels: LabelSet = { version: process.version, major, minor, patch };

  const resolutionMs = options.eventLoopResolutionMs ?? PROM_CLIENT_EVENT_LOOP_RESOLUTION_MS;
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  // Node records the whole time between two samples, the resolution included (a quiet loop sampled
  // every 10 ms reads ~10 ms, as prom-client reports it); a coarser resolution's excess is taken
  // off, so the figures stay on prom-client's scale (a quiet loop still reads ~10 ms).
  const excessNs = (resolutionMs - PROM_CLIENT_EVENT_LOOP_RESOLUTION_MS) * 1e6;
  delay.enable();
  const gcBuckets = GC_BUCKETS_SECONDS.length + 1;
  const gcCounts = new Float64Array(GC_KINDS.length * gcBuckets);
  const gcSums = new Float64Array(GC_KINDS.length);
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KIND_INDEX.get((entry.detail as { kind?: number } | null)?.kind ?? -1);
      if (kind === undefined) continue;
      const seconds = entry.duration / 1000;
      let bucket = 0;
      while (bucket < GC_BUCKETS_SECONDS.length && seconds > GC_BUCKETS_SECONDS[bucket]) bucket++;
      gcCounts[kind * gcBuckets + bucket]++;
      gcSums[kind] += seconds;
    }
  });
  gc.observe({ entryTypes: ['gc'] });

  const names: string[] = [NAMES.cpuUser, NAMES.cpuSystem, NAMES.cpu, NAMES.startTime, NAMES.resident];
  if (LINUX) names.push(NAMES.virtual, NAMES.heap, NAMES.openFds);
  if (maxFds !== undefined) names.push(NAMES.maxFds);
  names.push(
    NAMES.lag,
    NAMES.lagMin,
    NAMES.lagMax,
    NAMES.lagMean,
    NAMES.lagStddev,
    NAMES.lagP50,
    NAMES.lagP90,
    NAMES.lagP99,
    NAMES.resources,
    NAMES.handles,
    NAMES.requests,
    NAMES.heapTotal,
    NAMES.heapUsed,
    NAMES.external,
    NAMES.spaceTotal,
    NAMES.spaceUsed,
    NAMES.spaceAvailable,
    NAMES.version,
    NAMES.gc,
  );

  function delayFamilies(): Family[] {
    // Nothing sampled since the last scrape (scrapes closer than the resolution): no figures.
    const sampled = delay.count > 0;
    const read = (value: number): Sample[] => (sampled ? one(value / 1e9) : []);
    const readDelay = (value: number): Sample[] => read(value - excessNs);
    const families = [
      gauge(NAMES.lagMin, 'The minimum recorded event loop delay.', 'min', readDelay(delay.min)),
      gauge(NAMES.lagMax, 'The maximum recorded event loop delay.', 'max', readDelay(delay.max)),
      gauge(NAMES.lagMean, 'The mean of the recorded event loop delays.', 'average', readDelay(delay.mean)),
      gauge(
        NAMES.lagStddev,
        'The standard deviation of the recorded event loop delays.',
        'average',
        read(delay.stddev),
      ),
      gauge(
        NAMES.lagP50,
        'The 50th percentile of the recorded event loop delays.',
        'average',
        readDelay(delay.percentile(50)),
      ),
      gauge(
        NAMES.lagP90,
        'The 90th percentile of the recorded event loop delays.',
        'average',
        readDelay(delay.percentile(90)),
      ),
      gauge(
        NAMES.lagP99,
        'The 99th percentile of the recorded event loop delays.',
        'average',
        readDelay(delay.percentile(99)),
      ),
    ];
    delay.reset();
    return families;
  }

  function heapSpaceFamilies(): Family[] {
    const total: Sample[] = [];
    const used: Sample[] = [];
    const available: Sample[] = [];
    for (const space of getHeapSpaceStatistics()) {
      const end = space.space_name.indexOf('_space');
      const labels = { space: end < 0 ? space.space_name : space.space_name.slice(0, end) };
      total.push({ labels, value: space.space_size });
      used.push({ labels, value: space.space_used_size });
      available.push({ labels, value: space.space_available_size });
    }
    return [
      gauge(NAMES.spaceTotal, 'Process heap space size total from Node.js in bytes.', 'sum', total),
      gauge(NAMES.spaceUsed, 'Process heap space size used from Node.js in bytes.', 'sum', used),
      gauge(
        NAMES.spaceAvailable,
        'Process heap space size available from Node.js in bytes.',
        'sum',
        available,
      ),
    ];
  }

  function gcFamily(): Family {
    const samples = [];
    for (let kind = 0; kind < GC_KINDS.length; kind++) {
      const counts = gcCounts.slice(kind * gcBuckets, (kind + 1) * gcBuckets);
      if (counts.some((count) => count > 0)) {
        samples.push({ labels: { kind: GC_KINDS[kind] }, counts, sum: gcSums[kind] });
      }
    }
    return {
      name: NAMES.gc,
      help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
      type: 'histogram',
      aggregation: 'sum',
      bounds: GC_BUCKETS_SECONDS,
      samples,
    };
  }

  return {
    names,
    async families() {
      const lag = await nextTurn();
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const status = LINUX ? readProcStatus() : undefined;
      const families: Family[] = [
        counter(NAMES.cpuUser, 'Total user CPU time spent in seconds.', cpu.user / 1e6),
        counter(NAMES.cpuSystem, 'Total system CPU time spent in seconds.', cpu.system / 1e6),
        counter(NAMES.cpu, 'Total user and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6),
        gauge(
          NAMES.startTime,
          'Start time of the process since unix epoch in seconds.',
          'min',
          one(startTime),
        ),
        gauge(NAMES.resident, 'Resident memory size in bytes.', 'sum', one(status?.rss ?? memory.rss)),
      ];
      if (LINUX) {
        families.push(
          gauge(NAMES.virtual, 'Virtual memory size in bytes.', 'sum', one(status?.virtual)),
          gauge(NAMES.heap, 'Process heap size in bytes.', 'sum', one(status?.data)),
          gauge(NAMES.openFds, 'Number of open file descriptors.', 'sum', one(openFds())),
        );
      }
      if (maxFds !== undefined) {
        families.push(gauge(NAMES.maxFds, 'Maximum number of open file descriptors.', 'sum', one(maxFds)));
      }
      families.push(
        gauge(NAMES.lag, 'Lag of event loop in seconds.', 'average', one(lag)),
        ...delayFamilies(),
        gauge(
          NAMES.resources,
          'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
          'sum',
          byType(process.getActiveResourcesInfo()),
        ),
        gauge(
          NAMES.handles,
          'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
          'sum',
          byType(constructorNames(internals._getActiveHandles?.() ?? [])),
        ),
        gauge(
          NAMES.requests,
          'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
          'sum',
          byType(constructorNames(internals._getActiveRequests?.() ?? [])),
        ),
        gauge(NAMES.heapTotal, 'Process heap size from Node.js in bytes.', 'sum', one(memory.heapTotal)),
        gauge(NAMES.heapUsed, 'Process heap size used from Node.js in bytes.', 'sum', one(memory.heapUsed)),
        gauge(NAMES.external, 'Node.js external memory size in bytes.', 'sum', one(memory.external)),
        ...heapSpaceFamilies(),
        gauge(NAMES.version, 'Node.js version info.', 'first', [{ labels: versionLabels, value: 1 }]),
        gcFamily(),
      );
      return families;
    },
    close() {
      delay.disable();
      gc.disconnect();
    },
  };
}
