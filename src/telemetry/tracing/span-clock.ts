import { createPreciseClock } from '../../core/index.ts';

/**
 * Span times: wall-clock start times with sub-millisecond resolution (the core's precise clock,
 * which follows the wall clock after a sleep or a step), durations from the monotonic clock, so
 * they are never negative.
 */
export interface SpanClock {
  /** Epoch milliseconds, with a fraction. */
  wall(): number;
  /** Monotonic milliseconds, for durations only. */
  mono(): number;
}

export function createSpanClock(): SpanClock {
  const precise = createPreciseClock();
  return {
    wall: () => precise.now(),
    mono: () => performance.now(),
  };
}
