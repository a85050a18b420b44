/**
 * The absolute deadline of a request, carried hop to hop so that a retry or a downstream call never
 * outlives the caller's patience. The value is epoch ms, so hosts need roughly synchronised clocks;
 * each hop also applies its own local timeout and the earlier of the two wins.
 */
export const DEADLINE_HEADER = 'x-trellis-deadline';

/** Largest value accepted: year ~2286; longer digit strings are rejected rather than rounded. */
const MAX_DEADLINE = 9_999_999_999_999;

/** Parses the header value (decimal epoch ms); undefined when absent or malformed. */
export function parseDeadline(value: string | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  if (start === end || end - start > 13) return undefined;
  let result = 0;
  for (let i = start; i < end; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    result = result * 10 + digit;
  }
  return result <= MAX_DEADLINE ? result : undefined;
}

export function formatDeadline(deadline: number): string {
  return String(Math.floor(deadline));
}

/**
 * The effective deadline (epoch ms): the earlier of the header's and now + `localTimeoutMs`.
 * A local timeout of 0 (or less, or not finite) means none; Infinity when neither applies.
 */
export function effectiveDeadline(
  now: number,
  headerValue: string | null | undefined,
  localTimeoutMs: number,
): number {
  const fromHeader = parseDeadline(headerValue) ?? Number.POSITIVE_INFINITY;
  const local = localTimeoutMs > 0 ? now + localTimeoutMs : Number.POSITIVE_INFINITY;
  return Math.min(fromHeader, local);
}

/** Ms left for the request: min(header deadline - now, local timeout); <= 0 means already expired. */
export function remainingBudgetMs(
  now: number,
  headerValue: string | null | undefined,
  localTimeoutMs: number,
): number {
  return effectiveDeadline(now, headerValue, localTimeoutMs) - now;
}

/** The timeout for one attempt: the per-try timeout (0 = none) bounded by what is left of the deadline. */
export function attemptTimeoutMs(now: number, deadline: number, perTryTimeoutMs: number): number {
  const left = deadline - now;
  return perTryTimeoutMs > 0 && perTryTimeoutMs < left ? perTryTimeoutMs : left;
}

/**
 * Whether a retry that starts after `delayMs` of back-off still has at least `minAttemptMs` before the
 * deadline (pass the per-try timeout, or a floor such as the upstream's typical latency).
 */
export function retryFits(now: number, deadline: number, delayMs: number, minAttemptMs: number): boolean {
  return now + delayMs + minAttemptMs <= deadline;
}
