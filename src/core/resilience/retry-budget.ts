import type { Clock } from '../clock.ts';
import { RollingWindow } from './rolling-window.ts';

export interface RetryBudgetOptions {
  clock: Clock;
  /** Retries allowed per request over the window (default 0.2: at most 20% extra load). */
  ratio?: number;
  /** Retries always allowed per second, so low-traffic clients can still retry (default 10). */
  minPerSecond?: number;
  /** Default 10 000 ms, in `buckets` (default 10) steps. */
  windowMs?: number;
  buckets?: number;
}

/**
 * linkerd's retry budget: over the last `windowMs`, retries may not exceed
 * `ratio` × original requests + `minPerSecond` × window seconds. Retries do not earn budget themselves,
 * so a failing upstream sees at most (1 + ratio) × the offered load, not maxAttempts × it.
 */
export interface RetryBudget {
  /** Counts one original request (not a retry). */
  recordRequest(): void;
  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryAcquireRetry(): boolean;
  /** Retries the budget would allow right now. */
  available(): number;
}

class Budget implements RetryBudget {
  private readonly clock: Clock;
  private readonly ratio: number;
  private readonly reserve: number;
  /** total = original requests, marked = retries. */
  private readonly window: RollingWindow;

  constructor(options: RetryBudgetOptions) {
    const windowMs = options.windowMs ?? 10_000;
    this.clock = options.clock;
    this.ratio = options.ratio ?? 0.2;
    this.reserve = ((options.minPerSecond ?? 10) * windowMs) / 1000;
    this.window = new RollingWindow(windowMs, options.buckets ?? 10);
  }

  recordRequest(): void {
    this.window.record(this.clock.now(), 1, 0);
  }

  tryAcquireRetry(): boolean {
    if (this.available() < 1) return false;
    this.window.record(this.clock.now(), 0, 1);
    return true;
  }

  available(): number {
    const window = this.window;
    window.advance(this.clock.now());
    return Math.max(0, Math.floor(this.reserve + this.ratio * window.total - window.marked));
  }
}

export function createRetryBudget(options: RetryBudgetOptions): RetryBudget {
  return new Budget(options);
}
