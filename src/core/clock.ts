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

/**
 * The system clock at sub-millisecond resolution, for what measures latencies (proxies, the SDK):
 * the wall-clock time the process started at plus the monotonic time since
 * (`performance.timeOrigin + performance.now()`, as OpenTelemetry JS times its spans). A round trip
 * on a LAN or loopback takes 0.1-0.5 ms, which `Date.now()` reads as 0 or 1 ms, so the ewma
 * balancer could not tell a fast endpoint from a slow one. Being monotonic, it never steps back
 * when the system clock is set; it differs from `Date.now()` only by such steps since the start.
 * Reading it costs what `Date.now()` does (~60 ns).
 */
export const preciseClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
};
