import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default metrics that break Prometheus naming (gauges ending in `_total`, which
 * `promtool check metrics` rejects); each is the sum of a per-type gauge that stays
 * (`nodejs_active_handles{type}` and so on).
 */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** The process's metrics (CPU, memory, file descriptors, event loop lag, heap, GC) into `registry`. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED) registry.removeSingleMetric(name);
}
