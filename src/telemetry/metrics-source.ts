import { Registry } from 'prom-client';

/** Anything that renders Prometheus text: a proxy's or a control node's metrics. */
export interface MetricsSource {
  /** The Content-Type of `text()`. */
  readonly contentType: string;
  text(): Promise<string>;
}

/**
 * The exposition of several registries as one (e.g. a control node's own and its in-process
 * gateway's). Throws when two of them hold a metric of the same name: give each registry its own
 * names (only one of them should collect the process metrics).
 */
export function mergedText(registries: readonly Registry[]): Promise<string> {
  if (registries.length === 1) return registries[0].metrics();
  return Registry.merge([...registries]).metrics();
}

/** Names two registries both define, which would make their merge fail. */
export function sharedMetricNames(a: Registry, b: Registry): string[] {
  const names = new Set(a.getMetricsAsArray().map((metric) => metric.name));
  return b
    .getMetricsAsArray()
    .map((metric) => metric.name)
    .filter((name) => names.has(name));
}
