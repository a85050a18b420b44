/**
 * Span times: wall-clock start times with sub-millisecond resolution, durations from the monotonic
 * clock. `performance.timeOrigin + performance.now()` alone drifts from the wall clock (the monotonic
 * clock stops while a laptop sleeps), so the wall reading is re-anchored on Date.now() now and then;
 * durations never cross an anchor, so they are never negative.
 */
export interface SpanClock {
  /** Epoch milliseconds, with a fraction. */
  wall(): number;
  /** Monotonic milliseconds, for durations only. */
  mono(): number;
}

const REANCHOR_MS = 10_000;

export function createSpanClock(): SpanClock {
  let anchorWall = Date.now();
  let anchorMono = performance.now();
  return {
    wall() {
      const mono = performance.now();
      if (mono - anchorMono > REANCHOR_MS) {
        anchorWall = Date.now();
        anchorMono = mono;
      }
      return anchorWall + (mono - anchorMono);
    },
    mono: () => performance.now(),
  };
}
