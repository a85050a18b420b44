import type { Metric, Registry } from 'prom-client';

export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Counts per bucket, not cumulative; one more than `bounds` (the last is +Inf). */
  readonly buckets: ArrayLike<number>;
  readonly sum: number;
}

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A histogram whose counts live elsewhere (fixed-bucket arrays filled on the request path) and are
 * read at scrape time: prom-client's Histogram can only be fed by `observe`, so this is a collector
 * with the same `get()` shape, registered in a registry like any metric (merges and the cluster
 * aggregator treat it as a histogram).
 */
export class CollectedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
    private readonly series: () => Iterable<HistogramSeries>,
    registry: Registry,
  ) {
    this.bounds = bounds;
    registry.registerMetric(this as unknown as Metric);
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: Value[];
  }> {
    const values: Value[] = [];
    const bounds = this.bounds;
    const bucketName = `${this.name}_bucket`;
    for (const series of this.series()) {
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += series.buckets[i];
        values.push({
          value: cumulative,
          labels: { ...series.labels, le: i < bounds.length ? bounds[i] : '+Inf' },
          metricName: bucketName,
        });
      }
      values.push({ value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` });
      values.push({ value: cumulative, labels: { ...series.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset here: the counts belong to their owner. */
  reset(): void {}
}
