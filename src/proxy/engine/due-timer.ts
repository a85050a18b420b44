import type { Clock, TimerHandle } from '../../core/index.ts';

const INF = Number.POSITIVE_INFINITY;

/**
 * The one timer of an exchange's owner (a client connection, an h2c exchange): it fires at the
 * earliest time asked for, and a later time never moves it back — the owner's handler sees what is
 * due and arms it again. `fire` runs with the timer already cleared.
 */
export class DueTimer {
  private timer: TimerHandle | null = null;
  private at = INF;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  arm(at: number): void {
    if (at === INF) return;
    if (this.timer !== null) {
      if (this.at <= at) return;
      this.clock.clearTimeout(this.timer);
    }
    this.at = at;
    this.timer = this.clock.setTimeout(this.onTimeout, Math.max(0, at - this.clock.now()));
    this.timer.unref?.();
  }

  clear(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.at = INF;
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    this.at = INF;
    this.fire();
  };
}

/** When an attempt started at `now` gives up: after the per-try timeout, or at the exchange's deadline if sooner. */
export function attemptDeadline(now: number, deadline: number, perTryTimeoutMs: number): number {
  return perTryTimeoutMs > 0 && now + perTryTimeoutMs < deadline ? now + perTryTimeoutMs : deadline;
}

/** The next time an attempt waiting upstream must be looked at: its idle timeout or its deadline. */
export function upstreamDue(idleTimeoutMs: number, lastActivity: number, tryDeadline: number): number {
  return idleTimeoutMs > 0 && lastActivity + idleTimeoutMs < tryDeadline
    ? lastActivity + idleTimeoutMs
    : tryDeadline;
}
