import { describe, expect, it } from 'vitest';
import {
  attemptTimeoutMs,
  DEADLINE_HEADER,
  effectiveDeadline,
  formatDeadline,
  parseDeadline,
  remainingBudgetMs,
  retryFits,
} from '../../../../src/core/index.ts';

const NOW = 1_700_000_000_000;

describe('deadlines', () => {
  it('names the header', () => {
    expect(DEADLINE_HEADER).toBe('x-trellis-deadline');
  });

  it('parses epoch ms and rejects anything else', () => {
    expect(parseDeadline('1700000000500')).toBe(1_700_000_000_500);
    expect(parseDeadline(' 1700000000500 ')).toBe(1_700_000_000_500);
    for (const bad of [undefined, null, '', ' ', '-5', '1.5', '1e12', 'soon', '0x10', '12345678901234']) {
      expect(parseDeadline(bad)).toBeUndefined();
    }
    expect(parseDeadline(formatDeadline(NOW + 250.7))).toBe(NOW + 250);
  });

  it('the budget is the smaller of the header’s and the local timeout', () => {
    expect(remainingBudgetMs(NOW, String(NOW + 800), 1000)).toBe(800);
    expect(remainingBudgetMs(NOW, String(NOW + 5000), 1000)).toBe(1000);
    expect(remainingBudgetMs(NOW, undefined, 1000)).toBe(1000);
    expect(remainingBudgetMs(NOW, 'garbage', 1000)).toBe(1000);
    expect(remainingBudgetMs(NOW, String(NOW + 300), 0)).toBe(300);
    expect(remainingBudgetMs(NOW, undefined, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(remainingBudgetMs(NOW, String(NOW - 10), 1000)).toBe(-10);
    expect(effectiveDeadline(NOW, String(NOW + 800), 1000)).toBe(NOW + 800);
  });

  it('bounds an attempt by the per-try timeout and what is left', () => {
    expect(attemptTimeoutMs(NOW, NOW + 1000, 300)).toBe(300);
    expect(attemptTimeoutMs(NOW, NOW + 200, 300)).toBe(200);
    expect(attemptTimeoutMs(NOW, NOW + 1000, 0)).toBe(1000);
    expect(attemptTimeoutMs(NOW, Number.POSITIVE_INFINITY, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('a retry fits only if the back-off plus a useful attempt ends before the deadline', () => {
    expect(retryFits(NOW, NOW + 1000, 100, 300)).toBe(true);
    expect(retryFits(NOW, NOW + 1000, 700, 300)).toBe(true);
    expect(retryFits(NOW, NOW + 1000, 701, 300)).toBe(false);
    expect(retryFits(NOW, Number.POSITIVE_INFINITY, 10_000, 10_000)).toBe(true);
  });
});
