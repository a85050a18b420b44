import { describe, expect, it } from 'vitest';
import { createTokenBucket } from '../../../../src/core/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('token bucket', () => {
  it('starts full and allows a burst, then refuses', () => {
    const bucket = createTokenBucket({ clock: createFakeClock(), ratePerSecond: 10, burst: 5 });
    for (let i = 0; i < 5; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it('refills at the rate, up to the burst', () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ clock, ratePerSecond: 10, burst: 5 });
    while (bucket.tryTake());
    clock.advance(100);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    clock.advance(60_000);
    expect(bucket.tokens).toBe(5);
  });

  it('takes several tokens at once, or none', () => {
    const bucket = createTokenBucket({ clock: createFakeClock(), ratePerSecond: 1, burst: 3 });
    expect(bucket.tryTake(2)).toBe(true);
    expect(bucket.tryTake(2)).toBe(false);
    expect(bucket.tokens).toBe(1);
  });

  it('tells how long until tokens are available', () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ clock, ratePerSecond: 4, burst: 2 });
    expect(bucket.msUntil()).toBe(0);
    bucket.tryTake(2);
    expect(bucket.msUntil()).toBe(250);
    expect(bucket.msUntil(2)).toBe(500);
    expect(bucket.msUntil(3)).toBe(Number.POSITIVE_INFINITY);
    clock.advance(250);
    expect(bucket.tryTake()).toBe(true);
  });

  it('holds the rate over a long run', () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ clock, ratePerSecond: 100, burst: 10 });
    let taken = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      while (bucket.tryTake()) taken++;
      clock.advance(1);
    }
    expect(taken).toBeGreaterThanOrEqual(1000);
    expect(taken).toBeLessThanOrEqual(1010);
  });

  it('defaults the burst to one second of rate', () => {
    const bucket = createTokenBucket({ clock: createFakeClock(), ratePerSecond: 50 });
    expect(bucket.tokens).toBe(50);
  });
});
