import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/core/index.ts';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['250us', 0.25],
    ['1500µs', 1.5],
    ['0.4ms', 0],
    ['10s', 10_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
    [1500, 1500],
  ])('parses %s', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each(['10', '10 sec', '-1s', 's', ''])('rejects %j with BAD_REQUEST', (input) => {
    expect(() => parseDuration(input)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('formats back to the largest whole unit', () => {
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(0.25)).toBe('250us');
  });
});
