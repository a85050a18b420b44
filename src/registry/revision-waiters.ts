import { type Clock, MeshError, type TimerHandle } from '../core/index.ts';

interface Waiter {
  revision: number;
  resolve(): void;
  reject(error: Error): void;
  timer: TimerHandle;
}

/**
 * Read-your-writes: a write waits here until the view has applied its revision. A view that does
 * not catch up in time fails the write STORE_UNAVAILABLE (the write itself happened; retrying it is
 * safe because every registry write is idempotent).
 */
export class RevisionWaiters {
  private waiters: Waiter[] = [];
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves once `release()` is called with a revision at or past `revision`. */
  wait(revision: number, current: number): Promise<void> {
    if (revision <= current) return Promise.resolve();
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        revision,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          reject(
            new MeshError(
              'STORE_UNAVAILABLE',
              `the registry view did not reach revision ${revision} within ${this.timeoutMs}ms`,
            ),
          );
        }, this.timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  release(current: number): void {
    if (this.waiters.length === 0) return;
    const waiting: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.revision > current) {
        waiting.push(waiter);
        continue;
      }
      this.clock.clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters = waiting;
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiters) {
      this.clock.clearTimeout(waiter.timer);
      waiter.reject(closedError());
    }
    this.waiters = [];
  }
}

function closedError(): MeshError {
  return new MeshError('STORE_CLOSED', 'the registry was closed');
}
