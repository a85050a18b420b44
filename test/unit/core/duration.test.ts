import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseTimeout } from '../../../src/core/index.ts';

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

  it('parses timeouts: 0 is none, 1ms and more as durations are, anything between is refused', () => {
    expect(parseTimeout(0)).toBe(0);
    expect(parseTimeout('0ms')).toBe(0);
    expect(parseTimeout('1ms')).toBe(1);
    expect(parseTimeout('1000us')).toBe(1);
    expect(parseTimeout('1500us')).toBe(1.5);
    expect(parseTimeout('0.001s')).toBe(1);
    expect(parseTimeout('2s')).toBe(2000);
    for (const input of ['500us', '999us', '0.4ms', '0.0001s', 0.5]) {
      expect(() => parseTimeout(input)).toThrow(
        expect.objectContaining({
          code: 'BAD_REQUEST',
          message: `a timeout is 0 (none) or at least 1ms, got ${JSON.stringify(input)}`,
        }),
      );
    }
    expect(() => parseTimeout('soon')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('formats back to the largest whole unit', () => {
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(0.25)).toBe('250us');
  });
});
