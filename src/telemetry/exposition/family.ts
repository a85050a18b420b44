/**
 * The data plane's metrics model: a family is one Prometheus metric (name, help, type) with its
 * samples, plain data that renders to the text format, travels between processes as JSON and
 * combines across the workers of one proxy.
 */

/** The Content-Type of the Prometheus text format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type FamilyType = 'counter' | 'gauge' | 'histogram';

/**
 * How the primary of a proxy with workers combines the values several workers report for one label
 * set: `sum` for counters and most gauges, `max`/`min` for worst/earliest values, `first` for values
 * every worker shares (a version), `average` for per-process rates and latencies.
 */
export type Aggregation = 'sum' | 'max' | 'min' | 'first' | 'average';

/** Label name → value, in the order they are rendered. */
export type LabelSet = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels: LabelSet;
  readonly value: number;
}

export interface HistogramSample {
  readonly labels: LabelSet;
  /** Observations per bucket, not cumulative: one per bound, then the +Inf bucket. */
  readonly counts: ArrayLike<number>;
  readonly sum: number;
}

export interface ScalarFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly aggregation: Aggregation;
  readonly samples: readonly Sample[];
}

export interface HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  /** Workers' histograms are always summed, bucket by bucket. */
  readonly aggregation: 'sum';
  /** Bucket upper bounds, ascending; +Inf is implied. */
  readonly bounds: readonly number[];
  readonly samples: readonly HistogramSample[];
}

export type Family = ScalarFamily | HistogramFamily;

/** Something that reports families at scrape time: a proxy's metrics, the process's. */
export interface FamilySource {
  /** The names of the families `families()` reports, fixed when the source is created. */
  readonly names: readonly string[];
  /** The families as they are now, each reported even when it has no samples yet. */
  families(): Promise<Family[]>;
}
