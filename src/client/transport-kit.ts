/**
 * What every Transport (see transport.ts) does alike, whatever speaks HTTP underneath: the errors it
 * fails with, one deadline per exchange, and counting exchanges in flight so that close() can let
 * them finish.
 */

/** Methods a server cannot have acted on twice when resent (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** An error `unavailable()` in http.ts words as "no answer in time". */
export function timeoutError(message: string): Error {
  const error = new Error(message);
  error.name = 'TimeoutError';
  return error;
}

/** A stream silent past its idle timeout (ETIMEDOUT, as a socket's own timeout would say). */
export function silenceError(idleTimeoutMs: number): Error {
  const error: NodeJS.ErrnoException = new Error(`the stream was silent for ${idleTimeoutMs} ms`);
  error.code = 'ETIMEDOUT';
  return error;
}

export function closedError(): Error {
  return new Error('the client is closed');
}

export function abortedError(): Error {
  return new Error('the request was aborted');
}

/** Settles an exchange once: later calls do nothing. */
export interface Settlement<T> {
  finish(error: Error | undefined, value?: T): void;
  readonly settled: boolean;
}

/**
 * Runs an exchange that `start` begins and settles through `finish`; past `timeoutMs` it fails with
 * a TimeoutError. `onFailure` runs before a failure is reported (the transport drops the connection).
 */
export function underDeadline<T>(
  timeoutMs: number,
  onFailure: () => void,
  start: (settlement: Settlement<T>) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settlement: Settlement<T> = {
      get settled() {
        return settled;
      },
      finish(error, value) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) {
          resolve(value as T);
        } else {
          onFailure();
          reject(error);
        }
      },
    };
    const timer = setTimeout(
      () => settlement.finish(timeoutError(`no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    start(settlement);
  });
}

/** Counts exchanges in flight; `drained()` resolves once none is. */
export class InFlight {
  private count = 0;
  private onDrained: (() => void) | undefined;

  async run<T>(exchange: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await exchange();
    } finally {
      if (--this.count === 0) this.onDrained?.();
    }
  }

  drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDrained = resolve;
    });
  }
}
