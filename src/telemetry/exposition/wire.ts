import type { Family, LabelSet } from './family.ts';

/** A number as JSON carries it: JSON has no NaN or infinities (JSON.stringify writes them as null). */
export type WireNumber = number | 'NaN' | '+Inf' | '-Inf';

export interface WireSample {
  readonly labels: LabelSet;
  readonly value: WireNumber;
}

export interface WireHistogramSample {
  readonly labels: LabelSet;
  readonly counts: number[];
  readonly sum: WireNumber;
}

/** A Family as plain JSON: for a worker's answer to the primary over the IPC channel. */
export type WireFamily =
  | {
      readonly name: string;
      readonly help: string;
      readonly type: 'counter' | 'gauge';
      readonly aggregation: Family['aggregation'];
      readonly samples: WireSample[];
    }
  | {
      readonly name: string;
      readonly help: string;
      readonly type: 'histogram';
      readonly aggregation: 'sum';
      readonly bounds: readonly number[];
      readonly samples: WireHistogramSample[];
    };

function toWireNumber(value: number): WireNumber {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

function fromWireNumber(value: WireNumber): number {
  if (typeof value === 'number') return value;
  if (value === '+Inf') return Number.POSITIVE_INFINITY;
  if (value === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number.NaN;
}

/** Families ready for JSON: special values spelled out, histogram counts as plain arrays. */
export function toWire(families: readonly Family[]): WireFamily[] {
  return families.map((family): WireFamily => {
    if (family.type === 'histogram') {
      return {
        ...family,
        samples: family.samples.map((sample) => ({
          labels: sample.labels,
          counts: Array.from(sample.counts),
          sum: toWireNumber(sample.sum),
        })),
      };
    }
    return {
      ...family,
      samples: family.samples.map((sample) => ({ labels: sample.labels, value: toWireNumber(sample.value) })),
    };
  });
}

/** The families `toWire` wrote, after their trip through JSON. */
export function fromWire(families: readonly WireFamily[]): Family[] {
  return families.map((family): Family => {
    if (family.type === 'histogram') {
      return {
        ...family,
        samples: family.samples.map((sample) => ({ ...sample, sum: fromWireNumber(sample.sum) })),
      };
    }
    return {
      ...family,
      samples: family.samples.map((sample) => ({
        labels: sample.labels,
        value: fromWireNumber(sample.value),
      })),
    };
  });
}
