import { Counter, Gauge, Registry } from 'prom-client';
import type { HealthCheck, HealthState } from '../core/index.ts';
import { HEALTH_STATES } from '../core/index.ts';
import { type FamilySource, renderFamilies } from './exposition/index.ts';
import type { MetricsSource } from './metrics-source.ts';
import { CHECK_RESULTS, type CheckResultLabel, CONTROL_METRICS } from './names.ts';
import { createProcessMetrics } from './process-metrics.ts';

const CHECK_TYPES: readonly HealthCheck['type'][] = ['http', 'tcp', 'ttl'];

/** Health checks run, by check type and result: plain counters, read at scrape time. */
export class HealthCheckStats {
  readonly counts = new Float64Array(CHECK_TYPES.length * CHECK_RESULTS.length);

  record(check: HealthCheck['type'], result: CheckResultLabel): void {
    const type = CHECK_TYPES.indexOf(check);
    const outcome = CHECK_RESULTS.indexOf(result);
    if (type >= 0 && outcome >= 0) this.counts[type * CHECK_RESULTS.length + outcome]++;
  }

  count(check: HealthCheck['type'], result: CheckResultLabel): number {
    return this.counts[CHECK_TYPES.indexOf(check) * CHECK_RESULTS.length + CHECK_RESULTS.indexOf(result)];
  }
}

/** What a control node's gauges read at scrape time. */
export interface ControlMetricsOptions {
  watchSubscribers: () => number;
  /** The store revision the node's registry view reflects. */
  revision: () => number;
  services: () => Iterable<{ readonly name: string; readonly instances: Record<HealthState, number> }>;
  healthChecks?: HealthCheckStats;
  /** Collect the process's metrics (CPU, memory, event loop, GC) too (default true). */
  processMetrics?: boolean;
}

/**
 * A control node's metrics: its own prom-client registry and the process's metrics, plus the
 * metrics of proxies running in its process.
 */
export interface ControlMetrics extends MetricsSource {
  readonly registry: Registry;
  /**
   * Adds a source (an in-process gateway proxy's metrics) to this node's exposition, `GET /metrics`
   * and `GET /api/v1/mesh/v2/metrics`; returns the function that takes it out again. Throws when it
   * reports a metric this node (or a source already included) reports: create that proxy's metrics
   * without process metrics.
   */
  include(source: FamilySource): () => void;
  /** Stops the process metrics' event-loop monitor and GC observer. */
  close(): void;
}

export function createControlMetrics(options: ControlMetricsOptions): ControlMetrics {
  const registry = new Registry();
  const registers = [registry];
  const names = CONTROL_METRICS;
  new Gauge({
    name: names.watchSubscribers.name,
    help: names.watchSubscribers.help,
    registers,
    collect() {
      this.set(options.watchSubscribers());
    },
  });
  new Gauge({
    name: names.storeRevision.name,
    help: names.storeRevision.help,
    registers,
    collect() {
      this.set(options.revision());
    },
  });
  new Gauge({
    name: names.instances.name,
    help: names.instances.help,
    labelNames: names.instances.labels,
    registers,
    collect() {
      this.reset();
      for (const service of options.services()) {
        for (const health of HEALTH_STATES) {
          this.set({ service: service.name, health }, service.instances[health] ?? 0);
        }
      }
    },
  });
  const checks = options.healthChecks;
  if (checks !== undefined) {
    new Counter({
      name: names.healthChecks.name,
      help: names.healthChecks.help,
      labelNames: names.healthChecks.labels,
      registers,
      collect() {
        this.reset();
        for (const check of CHECK_TYPES) {
          for (const result of CHECK_RESULTS) this.inc({ check, result }, checks.count(check, result));
        }
      },
    });
  }
  const processMetrics = (options.processMetrics ?? true) ? createProcessMetrics() : undefined;

  const included: FamilySource[] = [];
  const reported = (): string[] => [
    ...registry.getMetricsAsArray().map((metric) => metric.name),
    ...(processMetrics?.names ?? []),
    ...included.flatMap((source) => source.names),
  ];
  return {
    registry,
    contentType: registry.contentType,
    include(source) {
      const names = new Set(reported());
      const shared = source.names.filter((name) => names.has(name));
      if (shared.length > 0) {
        throw new TypeError(
          `cannot include metrics that report ${shared.slice(0, 3).join(', ')} again ` +
            '(create the in-process proxy without process metrics)',
        );
      }
      included.push(source);
      return () => {
        const index = included.indexOf(source);
        if (index >= 0) included.splice(index, 1);
      };
    },
    async text() {
      const sources = processMetrics === undefined ? included : [processMetrics, ...included];
      const [own, families] = await Promise.all([
        registry.metrics(),
        Promise.all(sources.map((source) => source.families())),
      ]);
      return own + renderFamilies(families.flat());
    },
    close() {
      processMetrics?.close();
    },
  };
}
