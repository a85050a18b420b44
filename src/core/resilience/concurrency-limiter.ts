/** `start`: go now; `queue`: wait for a `release()` that returns true; `reject`: overflow, fail fast. */
export type Admission = 'start' | 'queue' | 'reject';

export interface ConcurrencyLimiterOptions {
  /** Requests in flight at once (default 1024, Envoy's max_requests). */
  maxInFlight?: number;
  /** Requests waiting for a slot (default 1024, Envoy's max_pending_requests; 0 = no queue). */
  maxPending?: number;
}

/**
 * A cluster's bulkhead: counts only, the queue itself stays with the caller (who knows what a waiting
 * request is), so nothing here allocates or keeps callbacks.
 *
 * - `tryAcquire()` → `start` (a slot is taken), `queue` (a pending place is taken) or `reject`.
 * - `release()` when a started request ends: returns true when a pending request inherits the slot —
 *   the caller must then start its oldest queued request, which must not call `tryAcquire()` again.
 * - `cancelPending()` when a queued request gives up before it got a slot.
 */
export interface ConcurrencyLimiter {
  readonly inFlight: number;
  readonly pending: number;
  tryAcquire(): Admission;
  release(): boolean;
  cancelPending(): void;
  /** New limits (configuration changed); counts are kept and drain to the new limits. */
  setLimits(options: ConcurrencyLimiterOptions): void;
}

class Limiter implements ConcurrencyLimiter {
  inFlight = 0;
  pending = 0;
  private maxInFlight = 1024;
  private maxPending = 1024;

  constructor(options: ConcurrencyLimiterOptions) {
    this.setLimits(options);
  }

  setLimits(options: ConcurrencyLimiterOptions): void {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1024);
    this.maxPending = Math.max(0, options.maxPending ?? 1024);
  }

  tryAcquire(): Admission {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return 'start';
    }
    if (this.pending < this.maxPending) {
      this.pending++;
      return 'queue';
    }
    return 'reject';
  }

  release(): boolean {
    if (this.pending > 0 && this.inFlight <= this.maxInFlight) {
      this.pending--;
      return true;
    }
    if (this.inFlight > 0) this.inFlight--;
    return false;
  }

  cancelPending(): void {
    if (this.pending > 0) this.pending--;
  }
}

export function createConcurrencyLimiter(options: ConcurrencyLimiterOptions = {}): ConcurrencyLimiter {
  return new Limiter(options);
}
