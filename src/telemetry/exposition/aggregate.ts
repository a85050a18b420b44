import type {
  Aggregation,
  Family,
  HistogramFamily,
  HistogramSample,
  LabelSet,
  Sample,
  ScalarFamily,
} from './family.ts';

/** The values several workers reported for one label set, folded as they arrive. */
interface ScalarSeries {
  labels: LabelSet;
  first: number;
  sum: number;
  min: number;
  max: number;
  count: number;
}

interface HistogramSeries {
  labels: LabelSet;
  counts: number[];
  sum: number;
}

type Entry =
  | { kind: 'scalar'; family: ScalarFamily; series: Map<string, ScalarSeries> }
  | { kind: 'histogram'; family: HistogramFamily; series: Map<string, HistogramSeries> };

function entryOf(family: Family): Entry {
  return family.type === 'histogram'
    ? { kind: 'histogram', family, series: new Map() }
    : { kind: 'scalar', family, series: new Map() };
}

/** A key for a label set that does not depend on the order of its labels. */
function labelKey(labels: LabelSet): string {
  const names = Object.keys(labels);
  if (names.length > 1) names.sort();
  let key = '';
  for (const name of names) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}

function addScalar(series: Map<string, ScalarSeries>, sample: Sample): void {
  const key = labelKey(sample.labels);
  const found = series.get(key);
  const value = sample.value;
  if (found === undefined) {
    series.set(key, { labels: sample.labels, first: value, sum: value, min: value, max: value, count: 1 });
    return;
  }
  found.sum += value;
  found.min = Math.min(found.min, value);
  found.max = Math.max(found.max, value);
  found.count++;
}

function addHistogram(series: Map<string, HistogramSeries>, sample: HistogramSample, buckets: number): void {
  if (sample.counts.length !== buckets) {
    throw new TypeError(
      `a histogram sample has ${sample.counts.length} buckets where ${buckets} were expected`,
    );
  }
  const key = labelKey(sample.labels);
  const found = series.get(key);
  if (found === undefined) {
    series.set(key, { labels: sample.labels, counts: Array.from(sample.counts), sum: sample.sum });
    return;
  }
  for (let i = 0; i < buckets; i++) found.counts[i] += sample.counts[i];
  found.sum += sample.sum;
}

function combined(series: ScalarSeries, aggregation: Aggregation): number {
  switch (aggregation) {
    case 'sum':
      return series.sum;
    case 'max':
      return series.max;
    case 'min':
      return series.min;
    case 'first':
      return series.first;
    case 'average':
      return series.sum / series.count;
  }
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((bound, i) => bound === b[i]);
}

/**
 * The families of several workers of one proxy as one exposition: families by name (in the order
 * they first appear), samples of the same label set combined by the family's aggregation, histograms
 * summed bucket by bucket. The first worker's help, type and aggregation stand for the family; a
 * worker reporting it with another type or other buckets is a programming error and throws.
 */
export function aggregateFamilies(perWorker: readonly (readonly Family[])[]): Family[] {
  const byName = new Map<string, Entry>();
  for (const families of perWorker) {
    for (const family of families) {
      let entry = byName.get(family.name);
      if (entry === undefined) {
        entry = entryOf(family);
        byName.set(family.name, entry);
      }
      if (entry.family.type !== family.type) {
        throw new TypeError(
          `workers report ${family.name} as a ${entry.family.type} and as a ${family.type}`,
        );
      }
      if (entry.kind === 'histogram' && family.type === 'histogram') {
        if (!sameBounds(entry.family.bounds, family.bounds)) {
          throw new TypeError(`workers report ${family.name} with different buckets`);
        }
        for (const sample of family.samples) addHistogram(entry.series, sample, family.bounds.length + 1);
      } else if (entry.kind === 'scalar' && family.type !== 'histogram') {
        for (const sample of family.samples) addScalar(entry.series, sample);
      }
    }
  }
  const result: Family[] = [];
  for (const entry of byName.values()) {
    if (entry.kind === 'histogram') {
      result.push({ ...entry.family, samples: [...entry.series.values()] });
    } else {
      const aggregation = entry.family.aggregation;
      const samples: Sample[] = [];
      for (const series of entry.series.values()) {
        samples.push({ labels: series.labels, value: combined(series, aggregation) });
      }
      result.push({ ...entry.family, samples });
    }
  }
  return result;
}
