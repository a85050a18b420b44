import { describe, expect, it } from 'vitest';
import { attemptDeadline, DueTimer, upstreamDue } from '../../../../src/proxy/engine/due-timer.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('DueTimer', () => {
  it('fires once at the earliest time asked for; a later time never moves it back', () => {
    const clock = createFakeClock(0);
    const fired: number[] = [];
    const timer = new DueTimer(clock, () => fired.push(clock.now()));
    timer.arm(100);
    timer.arm(300);
    timer.arm(50);
    timer.arm(Number.POSITIVE_INFINITY);
    clock.advance(400);
    expect(fired).toEqual([50]);
  });

  it('can be armed again from its own handler, and cleared', () => {
    const clock = createFakeClock(0);
    const fired: number[] = [];
    const timer: DueTimer = new DueTimer(clock, () => {
      fired.push(clock.now());
      if (fired.length < 3) timer.arm(clock.now() + 10);
    });
    timer.arm(10);
    clock.advance(100);
    expect(fired).toEqual([10, 20, 30]);
    timer.arm(200);
    timer.clear();
    timer.arm(250);
    clock.advance(200);
    expect(fired).toEqual([10, 20, 30, 250]);
  });
});

describe('attempt timing', () => {
  it('ends an attempt at the per-try timeout or the deadline, whichever comes first', () => {
    expect(attemptDeadline(1000, 5000, 0)).toBe(5000);
    expect(attemptDeadline(1000, 5000, 500)).toBe(1500);
    expect(attemptDeadline(1000, 1200, 500)).toBe(1200);
    expect(attemptDeadline(1000, Number.POSITIVE_INFINITY, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('looks at an attempt again at its idle timeout or its deadline, whichever comes first', () => {
    expect(upstreamDue(0, 1000, 5000)).toBe(5000);
    expect(upstreamDue(300, 1000, 5000)).toBe(1300);
    expect(upstreamDue(300, 1000, 1100)).toBe(1100);
  });
});
