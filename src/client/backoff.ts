export interface BackoffOptions {
  /** First retry waits up to this long. Default 100 ms. */
  baseMs?: number;
  /** No wait exceeds this. Default 5 s. */
  capMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniform wait in [0, min(cap, base·2^attempt)), so many
 * clients that lost the same control plane do not all come back in the same instant.
 */
export function fullJitterDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 100;
  const cap = options.capMs ?? 5_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
