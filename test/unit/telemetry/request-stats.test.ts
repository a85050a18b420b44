import { describe, expect, it } from 'vitest';
import {
  BUCKET_BOUNDS_MS,
  bucketIndex,
  DURATION_BUCKETS_SECONDS,
  ERROR_CODE_LIST,
  METHODS,
  methodIndex,
  RequestStats,
  STATUS_CLASS_COUNT,
  STATUS_CLASSES,
  statusClassIndex,
} from '../../../src/telemetry/index.ts';

const OVERFLOW_BUCKET = DURATION_BUCKETS_SECONDS.length;

describe('bucket placement', () => {
  it('puts a duration in the first bucket whose bound it does not exceed (le is inclusive)', () => {
    expect(bucketIndex(0)).toBe(0);
    expect(bucketIndex(0.5)).toBe(0);
    expect(bucketIndex(0.5001)).toBe(1);
    expect(bucketIndex(1)).toBe(1);
    expect(bucketIndex(3)).toBe(DURATION_BUCKETS_SECONDS.indexOf(0.005));
    expect(bucketIndex(10_000)).toBe(OVERFLOW_BUCKET - 1);
  });

  it('puts anything above the last bound in the +Inf (overflow) bucket', () => {
    expect(bucketIndex(10_000.001)).toBe(OVERFLOW_BUCKET);
    expect(bucketIndex(3_600_000)).toBe(OVERFLOW_BUCKET);
    expect(bucketIndex(Number.POSITIVE_INFINITY)).toBe(OVERFLOW_BUCKET);
  });

  it('agrees with every bound exactly', () => {
    BUCKET_BOUNDS_MS.forEach((bound, i) => {
      expect(bucketIndex(bound)).toBe(i);
      expect(bucketIndex(bound * 1.0001)).toBe(i + 1);
    });
  });

  it('spans 0.5 ms to 10 s in increasing order', () => {
    expect(DURATION_BUCKETS_SECONDS[0]).toBe(0.0005);
    expect(DURATION_BUCKETS_SECONDS.at(-1)).toBe(10);
    for (let i = 1; i < DURATION_BUCKETS_SECONDS.length; i++) {
      expect(DURATION_BUCKETS_SECONDS[i]).toBeGreaterThan(DURATION_BUCKETS_SECONDS[i - 1]);
    }
  });
});

describe('status class', () => {
  it.each([
    [100, '1xx'],
    [101, '1xx'],
    [200, '2xx'],
    [204, '2xx'],
    [299, '2xx'],
    [301, '3xx'],
    [404, '4xx'],
    [431, '4xx'],
    [500, '5xx'],
    [503, '5xx'],
    [599, '5xx'],
    [0, 'none'],
    [99, 'none'],
    [600, 'none'],
  ])('%i → %s', (status, label) => {
    expect(STATUS_CLASSES[statusClassIndex(status)]).toBe(label);
  });
});

describe('method index', () => {
  it('names the common methods and folds the rest into `other`', () => {
    for (const method of METHODS.filter((m) => m !== 'other'))
      expect(METHODS[methodIndex(method)]).toBe(method);
    expect(METHODS[methodIndex('PROPFIND')]).toBe('other');
    expect(METHODS[methodIndex('CONNECT')]).toBe('other');
    // Methods are case-sensitive (RFC 9110): `get` is not GET.
    expect(METHODS[methodIndex('get')]).toBe('other');
  });
});

describe('RequestStats', () => {
  it('counts by method and status class, and fills the histogram', () => {
    const stats = new RequestStats('orders', 'api', 'gateway');
    stats.record(methodIndex('GET'), 200, 0.3);
    stats.record(methodIndex('GET'), 201, 7);
    stats.record(methodIndex('POST'), 503, 20_000);
    stats.record(methodIndex('GET'), 0, 1);
    const at = (method: string, statusClass: string) =>
      stats.requests[methodIndex(method) * STATUS_CLASS_COUNT + STATUS_CLASSES.indexOf(statusClass as '2xx')];
    expect(at('GET', '2xx')).toBe(2);
    expect(at('POST', '5xx')).toBe(1);
    expect(at('GET', 'none')).toBe(1);
    expect(at('POST', '2xx')).toBe(0);
    expect(stats.count).toBe(4);
    expect(stats.durationSumMs).toBeCloseTo(20_008.3, 6);
    expect(stats.buckets[0]).toBe(1);
    expect(stats.buckets[bucketIndex(7)]).toBe(1);
    expect(stats.buckets[OVERFLOW_BUCKET]).toBe(1);
  });

  it('counts mesh errors by code; OVERFLOW is the overflow count; unknown codes are ignored', () => {
    const stats = new RequestStats('orders', '', 'outbound');
    stats.recordError('OVERFLOW');
    stats.recordError('OVERFLOW');
    stats.recordError('CIRCUIT_OPEN');
    stats.recordError('NOT_A_CODE');
    expect(stats.overflowed).toBe(2);
    expect(stats.errors[ERROR_CODE_LIST.indexOf('CIRCUIT_OPEN')]).toBe(1);
    expect([...stats.errors].reduce((a, b) => a + b, 0)).toBe(3);
  });
});
