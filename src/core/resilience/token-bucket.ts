import type { Clock } from '../clock.ts';

export interface TokenBucketOptions {
  clock: Clock;
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Capacity: the largest burst; the bucket starts full (default: one second's worth, at least 1). */
  burst?: number;
}

/** A token bucket refilled lazily from the clock: no timers, O(1), no allocation. */
export interface TokenBucket {
  /** Tokens available now (fractional). */
  readonly tokens: number;
  /** Takes `n` tokens if there are that many; otherwise takes nothing and returns false. */
  tryTake(n?: number): boolean;
  /** Ms until `n` tokens will be available (0 if they are now; Infinity if `n` exceeds the burst). */
  msUntil(n?: number): number;
}

class Bucket implements TokenBucket {
  private available: number;
  private stamp: number;
  private readonly clock: Clock;
  private readonly perMs: number;
  private readonly capacity: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond >= 0)) throw new RangeError('ratePerSecond must be >= 0');
    this.clock = options.clock;
    this.perMs = options.ratePerSecond / 1000;
    this.capacity = options.burst ?? Math.max(1, options.ratePerSecond);
    this.available = this.capacity;
    this.stamp = this.clock.now();
  }

  get tokens(): number {
    this.refill();
    return this.available;
  }

  tryTake(n = 1): boolean {
    this.refill();
    if (this.available < n) return false;
    this.available -= n;
    return true;
  }

  msUntil(n = 1): number {
    this.refill();
    if (this.available >= n) return 0;
    if (n > this.capacity || this.perMs === 0) return Number.POSITIVE_INFINITY;
    return Math.ceil((n - this.available) / this.perMs);
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.stamp;
    if (elapsed <= 0) return;
    this.stamp = now;
    const next = this.available + elapsed * this.perMs;
    this.available = Math.min(next, this.capacity);
  }
}

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  return new Bucket(options);
}
