/** Envoy's defaults for retry back-off. */
export const DEFAULT_BACKOFF_BASE_MS = 25;
export const DEFAULT_BACKOFF_CAP_MS = 250;

/**
 * Exponential back-off with full jitter (AWS architecture blog): a uniform delay in
 * [0, min(cap, base × 2^(attempt-1))). `attempt` is the retry number, 1 for the first retry.
 */
export function backoffDelay(
  baseMs: number,
  capMs: number,
  attempt: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(baseMs, capMs, attempt));
}

/** The jitter's range for this attempt: `backoffDelay` returns less than this (or 0 when it is 0). */
export function backoffCeiling(baseMs: number, capMs: number, attempt: number): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity for huge attempts, and min() then yields the cap.
  return Math.max(0, Math.min(capMs, baseMs * 2 ** exponent));
}
