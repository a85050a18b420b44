import { describe, expect, it } from 'vitest';
import { RollingWindow } from '../../../../src/core/index.ts';

describe('rolling window', () => {
  it('sums the counts of the buckets inside the window', () => {
    const window = new RollingWindow(10_000, 10);
    window.record(0, 1, 1);
    window.record(4_500, 2, 0);
    window.record(9_999, 3, 1);
    expect([window.total, window.marked]).toEqual([6, 2]);
  });

  it('drops buckets as they fall out, one at a time', () => {
    const window = new RollingWindow(10_000, 10);
    window.record(0, 1, 1);
    window.record(1_000, 10, 0);
    window.advance(10_000);
    expect([window.total, window.marked]).toEqual([10, 0]);
    window.advance(11_000);
    expect([window.total, window.marked]).toEqual([0, 0]);
  });

  it('clears everything after a long gap and ignores time going backwards', () => {
    const window = new RollingWindow(1000, 4);
    window.record(0, 5, 5);
    window.record(1_000_000, 1, 0);
    expect(window.total).toBe(1);
    window.record(999_000, 1, 1);
    expect([window.total, window.marked]).toEqual([2, 1]);
  });

  it('rejects a window with no buckets', () => {
    expect(() => new RollingWindow(0, 10)).toThrow(RangeError);
    expect(() => new RollingWindow(1000, 0)).toThrow(RangeError);
  });
});
