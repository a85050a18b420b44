import type { Clock, TimerHandle } from '../../src/core/index.ts';

interface FakeTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
}

/** A `Clock` that moves only when told to; timers fire in time order during `advance()`. */
export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing due timers (each at its own time) on the way. */
  advance(ms: number): void;
  /** Moves time to `epochMs` (never backwards), firing due timers. */
  set(epochMs: number): void;
  /** Timers scheduled and not yet fired or cleared. */
  readonly pendingTimers: number;
}

export function createFakeClock(startMs = 1_700_000_000_000): FakeClock {
  let now = startMs;
  let seq = 0;
  let timers: FakeTimer[] = [];

  const runUntil = (target: number): void => {
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of timers) {
        if (
          timer.at <= target &&
          (next === undefined || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))
        ) {
          next = timer;
        }
      }
      if (next === undefined) break;
      timers = timers.filter((timer) => timer !== next);
      now = Math.max(now, next.at);
      next.fn();
    }
    now = Math.max(now, target);
  };

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const timer: FakeTimer = { at: now + Math.max(0, ms), seq: seq++, fn, unref: () => timer };
      timers.push(timer);
      return timer;
    },
    clearTimeout(handle) {
      timers = timers.filter((timer) => timer !== handle);
    },
    advance(ms) {
      runUntil(now + ms);
    },
    set(epochMs) {
      runUntil(epochMs);
    },
    get pendingTimers() {
      return timers.length;
    },
  };
}

/** A deterministic random source in [0, 1) (mulberry32), for balancers and jitter in tests. */
export function seededRandom(seed = 1): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
