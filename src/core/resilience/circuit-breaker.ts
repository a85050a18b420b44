import type { Clock } from '../clock.ts';
import { RollingWindow } from './rolling-window.ts';

export const BREAKER_STATES = ['closed', 'open', 'half-open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

export interface CircuitBreakerOptions {
  clock: Clock;
  /** Open after this many failures in a row (default 5; 0 disables this trigger). */
  consecutiveFailures?: number;
  /** Open when failures / requests over the window reach this ratio (default 0.5; 0 disables). */
  failureRatio?: number;
  /** The ratio trigger needs at least this many requests in the window (default 20). */
  minRequests?: number;
  /** Length of the rolling window for the ratio (default 10 000 ms) and its bucket count (default 10). */
  windowMs?: number;
  windowBuckets?: number;
  /** How long the breaker stays open before it lets probes through (default 60 000 ms). */
  recoveryTimeMs?: number;
  /** Probe requests admitted when half-open; that many successes close the breaker (default 3). */
  halfOpenProbes?: number;
  /** Called on every transition, e.g. to update a gauge or eject the endpoint until `openUntil`. */
  onStateChange?: (state: BreakerState, previous: BreakerState) => void;
}

/**
 * A per-endpoint circuit breaker.
 *
 * closed → open after `consecutiveFailures` failures in a row, or when the failure ratio over the
 * rolling window reaches `failureRatio` (with at least `minRequests` requests). open → half-open once
 * `recoveryTimeMs` has passed (checked lazily, no timers). half-open admits `halfOpenProbes` requests:
 * when all of them succeed → closed; any failure → open again for another `recoveryTimeMs`.
 *
 * Every request that `allowRequest()` admitted must end in exactly one of `onSuccess()`, `onFailure()`
 * or `onCancel()` (an outcome that says nothing about the endpoint, e.g. the client went away), or a
 * half-open breaker would wait for its probes forever. Outcomes reported while open are ignored: they
 * belong to requests started before it opened.
 */
export interface CircuitBreaker {
  /** Current state; reading it moves an open breaker whose recovery time has passed to half-open. */
  readonly state: BreakerState;
  /** Epoch ms at which an open breaker goes half-open; 0 unless open. */
  readonly openUntil: number;
  readonly consecutiveFailures: number;
  allowRequest(): boolean;
  onSuccess(): void;
  onFailure(): void;
  onCancel(): void;
  /** Back to closed with clean counters (an operator's override). */
  reset(): void;
}

class Breaker implements CircuitBreaker {
  private current: BreakerState = 'closed';
  private until = 0;
  private failuresInARow = 0;
  private probesStarted = 0;
  private probesSucceeded = 0;
  private readonly clock: Clock;
  private readonly threshold: number;
  private readonly ratio: number;
  private readonly minRequests: number;
  private readonly recoveryMs: number;
  private readonly probes: number;
  private readonly window: RollingWindow;
  private readonly listener: CircuitBreakerOptions['onStateChange'];

  constructor(options: CircuitBreakerOptions) {
    this.clock = options.clock;
    this.threshold = options.consecutiveFailures ?? 5;
    this.ratio = options.failureRatio ?? 0.5;
    this.minRequests = options.minRequests ?? 20;
    this.recoveryMs = options.recoveryTimeMs ?? 60_000;
    this.probes = Math.max(1, options.halfOpenProbes ?? 3);
    this.window = new RollingWindow(options.windowMs ?? 10_000, options.windowBuckets ?? 10);
    this.listener = options.onStateChange;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.clock.now() >= this.until) this.moveTo('half-open');
    return this.current;
  }

  get openUntil(): number {
    return this.current === 'open' ? this.until : 0;
  }

  get consecutiveFailures(): number {
    return this.failuresInARow;
  }

  allowRequest(): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open') {
      if (this.clock.now() < this.until) return false;
      this.moveTo('half-open');
    }
    if (this.probesStarted >= this.probes) return false;
    this.probesStarted++;
    return true;
  }

  onSuccess(): void {
    if (this.current === 'closed') {
      this.failuresInARow = 0;
      this.window.record(this.clock.now(), 1, 0);
    } else if (this.current === 'half-open') {
      this.probesSucceeded++;
      if (this.probesSucceeded >= this.probes) this.moveTo('closed');
    }
  }

  onFailure(): void {
    if (this.current === 'closed') {
      this.failuresInARow++;
      const window = this.window;
      window.record(this.clock.now(), 1, 1);
      if (
        (this.threshold > 0 && this.failuresInARow >= this.threshold) ||
        (this.ratio > 0 && window.total >= this.minRequests && window.marked >= this.ratio * window.total)
      ) {
        this.moveTo('open');
      }
    } else if (this.current === 'half-open') {
      this.moveTo('open');
    }
  }

  onCancel(): void {
    if (this.current === 'half-open' && this.probesStarted > this.probesSucceeded) this.probesStarted--;
  }

  reset(): void {
    if (this.current === 'closed') {
      this.failuresInARow = 0;
      this.window.reset();
    } else {
      this.moveTo('closed');
    }
  }

  private moveTo(state: BreakerState): void {
    const previous = this.current;
    this.current = state;
    this.probesStarted = 0;
    this.probesSucceeded = 0;
    this.until = state === 'open' ? this.clock.now() + this.recoveryMs : 0;
    if (state === 'closed') {
      this.failuresInARow = 0;
      this.window.reset();
    }
    this.listener?.(state, previous);
  }
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  return new Breaker(options);
}
