/** Time as a dependency, so state machines can be tested without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Looked up once: the global `performance` is a getter, ~18 ns more on every read through it. */
const PERFORMANCE = performance;
/** How often a precise clock compares itself with the wall clock. */
const RECHECK_MS = 10_000;
/** At most this many Date.now() reads (~5 ms) waiting for it to tick over. */
const TICK_WAIT_READS = 100_000;
/** Ticks of Date.now() an anchoring looks at. */
const ANCHOR_TICKS = 3;

/**
 * The system clock at sub-millisecond resolution, for what measures latencies (proxies, the SDK)
 * and for span start times: epoch milliseconds with a fraction, from the monotonic clock
 * (`performance.now()`) anchored on the wall clock. A round trip on a LAN or loopback takes 0.1-0.5 ms, which `Date.now()` reads as 0 or
 * 1 ms, so the ewma balancer could not tell a fast endpoint from a slow one. The monotonic clock
 * stops while a machine sleeps and ignores the wall clock being set, and these times also go into
 * absolute deadlines that other processes read (`x-trellis-deadline`), so every 10 s the clock
 * compares itself with `Date.now()` and follows it when they differ by more than its 1 ms
 * truncation; otherwise it never steps, so a latency is never negative. ~50 ns a read, as
 * `Date.now()`. `sources` replace the two clocks in tests.
 */
export function createPreciseClock(sources: { wall?: () => number; monotonic?: () => number } = {}): Clock {
  const wallNow = sources.wall ?? Date.now;
  const monotonicNow = sources.monotonic ?? (() => PERFORMANCE.now());
  let anchorWall = 0;
  let anchorMono = 0;
  // Anchored where Date.now() ticks over, so a reading matches Date.now() to a few microseconds
  // rather than lagging it by up to its truncated millisecond. Of three ticks (~3 ms, at start and
  // after a step) the one seen soonest counts: a tick seen late (the thread was preempted) would
  // make every reading lag by that much.
  const anchor = () => {
    let best = Number.NEGATIVE_INFINITY;
    for (let tick = 0; tick < ANCHOR_TICKS; tick++) {
      const first = wallNow();
      let wall = first;
      for (let i = 0; i < TICK_WAIT_READS && wall === first; i++) wall = wallNow();
      const mono = monotonicNow();
      if (wall - mono > best) {
        best = wall - mono;
        anchorWall = wall;
        anchorMono = mono;
      }
    }
  };
  anchor();
  const recheck = (elapsed: number): number => {
    const reading = anchorWall + elapsed;
    if (Math.abs(wallNow() - reading) > 1) {
      anchor();
      return anchorWall;
    }
    anchorWall = reading;
    anchorMono += elapsed;
    return reading;
  };
  return {
    // Kept this small so that V8 inlines it where it is called: a reading then stays an unboxed
    // double instead of a heap number allocated per call.
    now() {
      const elapsed = monotonicNow() - anchorMono;
      return elapsed < RECHECK_MS ? anchorWall + elapsed : recheck(elapsed);
    },
    setTimeout: systemClock.setTimeout,
    clearTimeout: systemClock.clearTimeout,
  };
}
