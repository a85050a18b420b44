import { describe, expect, it } from 'vitest';
import {
  aggregateFamilies,
  type Family,
  formatValue,
  fromWire,
  type HistogramFamily,
  renderFamilies,
  type ScalarFamily,
  toWire,
} from '../../../src/telemetry/index.ts';
import { parseExposition } from '../../helpers/exposition.ts';

const gauge = (
  name: string,
  samples: ScalarFamily['samples'],
  aggregation: ScalarFamily['aggregation'] = 'sum',
) => ({ name, help: `${name} help`, type: 'gauge', aggregation, samples }) satisfies ScalarFamily;

const histogram = (samples: HistogramFamily['samples'], bounds = [0.1, 1]): HistogramFamily => ({
  name: 'h_seconds',
  help: 'A histogram.',
  type: 'histogram',
  aggregation: 'sum',
  bounds,
  samples,
});

describe('renderFamilies', () => {
  it('writes HELP and TYPE, then one line per sample, labels in their order', () => {
    const text = renderFamilies([
      {
        name: 'a_total',
        help: 'Things.',
        type: 'counter',
        aggregation: 'sum',
        samples: [
          { labels: { service: 'orders', code: '200' }, value: 3 },
          { labels: {}, value: 1.5 },
        ],
      },
      gauge('b', []),
    ]);
    expect(text).toBe(
      '# HELP a_total Things.\n# TYPE a_total counter\n' +
        'a_total{service="orders",code="200"} 3\na_total 1.5\n' +
        '# HELP b b help\n# TYPE b gauge\n',
    );
  });

  it('escapes backslash, double quote and newline in label values, backslash and newline in HELP', () => {
    const text = renderFamilies([
      {
        name: 'c',
        help: 'Line one\nsays "hi" in C:\\dir',
        type: 'gauge',
        aggregation: 'sum',
        samples: [{ labels: { path: 'a\\b"c\nd' }, value: 1 }],
      },
    ]);
    expect(text).toBe(
      '# HELP c Line one\\nsays "hi" in C:\\\\dir\n# TYPE c gauge\n' + 'c{path="a\\\\b\\"c\\nd"} 1\n',
    );
  });

  it('writes NaN, +Inf and -Inf the way the format spells them', () => {
    expect(
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1e-7, 2.5e21].map(formatValue),
    ).toEqual(['NaN', '+Inf', '-Inf', '0', '0', '1e-7', '2.5e+21']);
    const text = renderFamilies([
      gauge('g', [
        { labels: { x: '1' }, value: Number.NaN },
        { labels: { x: '2' }, value: -Infinity },
      ]),
    ]);
    expect(text).toContain('g{x="1"} NaN\n');
    expect(text).toContain('g{x="2"} -Inf\n');
  });

  it('writes histograms as cumulative buckets ending in +Inf, then _sum and _count', () => {
    const text = renderFamilies([
      histogram([
        { labels: { service: 'orders' }, counts: Float64Array.of(2, 0, 3), sum: 7.25 },
        { labels: {}, counts: [0, 1, 0], sum: 0.5 },
      ]),
    ]);
    expect(text).toBe(
      '# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\n' +
        'h_seconds_bucket{service="orders",le="0.1"} 2\n' +
        'h_seconds_bucket{service="orders",le="1"} 2\n' +
        'h_seconds_bucket{service="orders",le="+Inf"} 5\n' +
        'h_seconds_sum{service="orders"} 7.25\n' +
        'h_seconds_count{service="orders"} 5\n' +
        'h_seconds_bucket{le="0.1"} 0\n' +
        'h_seconds_bucket{le="1"} 1\n' +
        'h_seconds_bucket{le="+Inf"} 1\n' +
        'h_seconds_sum 0.5\n' +
        'h_seconds_count 1\n',
    );
  });
});

describe('aggregateFamilies', () => {
  const labels = { service: 'orders' };
  const worker = (value: number, aggregation: ScalarFamily['aggregation']) => [
    gauge('g', [{ labels, value }], aggregation),
  ];

  it.each([
    ['sum', 9],
    ['max', 5],
    ['min', 1],
    ['first', 3],
    ['average', 3],
  ] as const)('combines one label set by %s', (aggregation, expected) => {
    const [family] = aggregateFamilies([
      worker(3, aggregation),
      worker(5, aggregation),
      worker(1, aggregation),
    ]);
    expect(family).toMatchObject({ name: 'g', type: 'gauge', aggregation });
    expect(family.samples).toEqual([{ labels, value: expected }]);
  });

  it('keeps label sets apart, matches them whatever their label order, and averages over reporters only', () => {
    const a: Family[] = [
      gauge(
        'g',
        [
          { labels: { service: 'orders', health: 'ok' }, value: 2 },
          { labels: { service: 'users', health: 'ok' }, value: 10 },
        ],
        'average',
      ),
    ];
    const b: Family[] = [gauge('g', [{ labels: { health: 'ok', service: 'orders' }, value: 4 }], 'average')];
    const [family] = aggregateFamilies([a, b]);
    expect(family.samples).toEqual([
      { labels: { service: 'orders', health: 'ok' }, value: 3 },
      { labels: { service: 'users', health: 'ok' }, value: 10 },
    ]);
  });

  it('keeps families in the order they first appear, with those no worker has samples for', () => {
    const families = aggregateFamilies([
      [gauge('a', []), gauge('b', [{ labels: {}, value: 1 }])],
      [gauge('c', [{ labels: {}, value: 2 }]), gauge('a', [])],
    ]);
    expect(families.map((family) => [family.name, family.samples.length])).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 1],
    ]);
    expect(aggregateFamilies([])).toEqual([]);
  });

  it('sums histograms bucket by bucket, and their sums', () => {
    const one = histogram([{ labels, counts: [1, 2, 3], sum: 4 }]);
    const two = histogram([
      { labels, counts: Float64Array.of(10, 0, 1), sum: 0.5 },
      { labels: { service: 'users' }, counts: [0, 0, 1], sum: 9 },
    ]);
    const [family] = aggregateFamilies([[one], [two]]);
    expect(family.type).toBe('histogram');
    expect(family.samples).toEqual([
      { labels, counts: [11, 2, 4], sum: 4.5 },
      { labels: { service: 'users' }, counts: [0, 0, 1], sum: 9 },
    ]);
    const text = parseExposition(renderFamilies([family]));
    expect(text.sum('h_seconds_bucket', { ...labels, le: '1' })).toBe(13);
    expect(text.sum('h_seconds_count', labels)).toBe(17);
    // The inputs are left as they were.
    expect(one.samples[0].counts).toEqual([1, 2, 3]);
  });

  it('throws when workers disagree on a family type or its buckets', () => {
    expect(() => aggregateFamilies([[gauge('h_seconds', [])], [histogram([])]])).toThrow(
      /gauge and as a histogram/,
    );
    expect(() => aggregateFamilies([[histogram([])], [histogram([], [0.5, 1])]])).toThrow(
      /different buckets/,
    );
    expect(() => aggregateFamilies([[histogram([{ labels, counts: [1, 2], sum: 1 }])]])).toThrow(/2 buckets/);
  });
});

describe('toWire and fromWire', () => {
  it('carry families through JSON with NaN, infinities and typed-array counts intact', () => {
    const families: Family[] = [
      gauge('g', [
        { labels: { a: '1' }, value: Number.NaN },
        { labels: { a: '2' }, value: Number.POSITIVE_INFINITY },
        { labels: { a: '3' }, value: Number.NEGATIVE_INFINITY },
        { labels: { a: '4' }, value: 0.25 },
      ]),
      histogram([{ labels: {}, counts: Float64Array.of(1, 2, 3), sum: Number.NaN }]),
    ];
    const back = fromWire(JSON.parse(JSON.stringify(toWire(families))));
    expect(back).toEqual([families[0], histogram([{ labels: {}, counts: [1, 2, 3], sum: Number.NaN }])]);
    expect(renderFamilies(back)).toBe(renderFamilies(families));
  });
});
