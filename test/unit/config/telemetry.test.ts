import { describe, expect, it } from 'vitest';
import {
  telemetryWindowQuery,
  traceIdParam,
  traceSearchQuery,
  trellisConfig,
  validate,
} from '../../../src/config/index.ts';
import { failure } from '../../helpers/mesh-error.ts';

describe('telemetry settings', () => {
  it('defaults to a 10,000-trace collector and no forwarding', () => {
    const config = validate(trellisConfig, {});
    expect(config.telemetry).toEqual({
      maxTraces: 10_000,
      maxSpansPerTrace: 1_000,
      maxSpans: 200_000,
      maxOtlpBodyBytes: 16 * 1024 * 1024,
    });
  });

  it('takes an OTLP endpoint and limits, and names a bad field', () => {
    const config = validate(trellisConfig, {
      telemetry: { otlpEndpoint: 'http://collector:4318', maxTraces: 500 },
    });
    expect(config.telemetry.otlpEndpoint).toBe('http://collector:4318');
    expect(config.telemetry.maxTraces).toBe(500);
    const bad = failure(() =>
      validate(trellisConfig, { telemetry: { otlpEndpoint: 'collector:4318', maxTraces: 0 } }),
    );
    expect(bad.details.map((detail) => detail.path).sort()).toEqual([
      'telemetry.maxTraces',
      'telemetry.otlpEndpoint',
    ]);
    const unknown = failure(() => validate(trellisConfig, { telemetry: { maxTrace: 5 } }));
    expect(unknown.details[0]!.path).toBe('telemetry.maxTrace');
  });
});

describe('trace and window queries', () => {
  it('parses search parameters from query strings', () => {
    expect(
      validate(traceSearchQuery, {
        service: 'orders',
        status: 'error',
        minDuration: '250ms',
        start: '1700000000000',
        end: '2023-11-14T22:13:21Z',
        limit: '50',
      }),
    ).toEqual({
      service: 'orders',
      status: 'error',
      minDuration: 250,
      start: 1_700_000_000_000,
      end: Date.parse('2023-11-14T22:13:21Z'),
      limit: 50,
    });
    expect(validate(traceSearchQuery, { minDuration: '1500' }).minDuration).toBe(1500);
    expect(validate(traceSearchQuery, {}).limit).toBe(20);
  });

  it.each([
    [{ limit: '1001' }, 'limit'],
    [{ limit: '-1' }, 'limit'],
    [{ status: 'fine' }, 'status'],
    [{ minDuration: 'slow' }, 'minDuration'],
    [{ start: 'last tuesday' }, 'start'],
    [{ start: '2000', end: '1000' }, 'end'],
  ])('rejects %j naming %s', (query, path) => {
    expect(failure(() => validate(traceSearchQuery, query, { what: 'query' })).details[0]!.path).toBe(path);
  });

  it('bounds windows to 10s-1h', () => {
    expect(validate(telemetryWindowQuery, {}).window).toBe(300_000);
    expect(validate(telemetryWindowQuery, { window: '1m' }).window).toBe(60_000);
    expect(validate(telemetryWindowQuery, { window: '3600000' }).window).toBe(3_600_000);
    expect(failure(() => validate(telemetryWindowQuery, { window: '5s' })).details[0]!.path).toBe('window');
    expect(failure(() => validate(telemetryWindowQuery, { window: '61m' })).details[0]!.path).toBe('window');
  });

  it('takes trace ids in either case, and 64-bit ones as the low half', () => {
    expect(validate(traceIdParam, '4BF92F3577B34DA6A3CE929D0E0E4736')).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(validate(traceIdParam, 'a3ce929d0e0e4736')).toBe('0000000000000000a3ce929d0e0e4736');
    expect(() => validate(traceIdParam, '0'.repeat(32))).toThrow(/all-zero/);
    expect(() => validate(traceIdParam, 'xyz')).toThrow(/32 hex digits/);
  });
});
