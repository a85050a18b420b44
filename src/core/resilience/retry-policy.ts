import { MeshError } from '../errors.ts';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from './backoff.ts';

/**
 * Conditions a route may retry on (Envoy's names):
 * - `connect-failure`: no connection to the upstream (refused, connect timeout);
 * - `reset`: the upstream did not answer: connection reset or closed, or the per-try timeout fired;
 * - `5xx`: any 500-599 response, plus everything `connect-failure` and `reset` cover;
 * - `gateway-error`: 502, 503 and 504, plus connect failures and resets;
 * - `retriable-status-codes`: the statuses in `retriableStatusCodes`.
 */
export const RETRY_ON = [
  'connect-failure',
  'reset',
  '5xx',
  'gateway-error',
  'retriable-status-codes',
] as const;
export type RetryOn = (typeof RETRY_ON)[number];

/** An attempt that ended without an HTTP response. */
export const ATTEMPT_FAILURES = ['connect-failure', 'reset', 'timeout'] as const;
export type AttemptFailure = (typeof ATTEMPT_FAILURES)[number];

/** How an attempt ended: the response status, or why there was none. */
export type AttemptOutcome = number | AttemptFailure;

export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);

export interface RetryPolicyOptions {
  /** Default: connect-failure, reset, gateway-error. */
  retryOn?: readonly RetryOn[];
  /** Attempts in all, the first one included (default 2: one retry). */
  maxAttempts?: number;
  /** Timeout of each attempt in ms; 0 (the default) leaves only the route's overall timeout. */
  perTryTimeoutMs?: number;
  /** Used by `retriable-status-codes` (default [503]). */
  retriableStatusCodes?: readonly number[];
  /** Non-idempotent requests are retried only if their body was buffered whole within this (64 KiB). */
  maxBufferedBodyBytes?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/** A validated retry policy with its conditions precomputed; build once per route. */
export interface RetryPolicy {
  readonly retryOn: readonly RetryOn[];
  readonly maxAttempts: number;
  readonly perTryTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  readonly maxBufferedBodyBytes: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Bit set of RETRY_ON indexes. */
  readonly conditions: number;
  readonly statusCodes: ReadonlySet<number>;
}

const CONNECT_FAILURE = 1 << 0;
const RESET = 1 << 1;
const ANY_5XX = 1 << 2;
const GATEWAY_ERROR = 1 << 3;
const RETRIABLE_STATUS = 1 << 4;

export function createRetryPolicy(options: RetryPolicyOptions = {}): RetryPolicy {
  const retryOn = [...(options.retryOn ?? ['connect-failure', 'reset', 'gateway-error'])];
  let conditions = 0;
  for (const condition of retryOn) {
    const index = RETRY_ON.indexOf(condition);
    if (index < 0)
      throw invalid('retryOn', `unknown retry condition "${condition}": expected ${RETRY_ON.join(', ')}`);
    conditions |= 1 << index;
  }
  const maxAttempts = options.maxAttempts ?? 2;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw invalid('maxAttempts', 'must be an integer >= 1');
  const perTryTimeoutMs = options.perTryTimeoutMs ?? 0;
  if (!(perTryTimeoutMs >= 0)) throw invalid('perTryTimeoutMs', 'must be >= 0');
  const retriableStatusCodes = [...(options.retriableStatusCodes ?? [503])];
  for (const code of retriableStatusCodes) {
    if (!Number.isInteger(code) || code < 100 || code > 599)
      throw invalid('retriableStatusCodes', `not a status: ${code}`);
  }
  return Object.freeze({
    retryOn,
    maxAttempts,
    perTryTimeoutMs,
    retriableStatusCodes,
    maxBufferedBodyBytes: options.maxBufferedBodyBytes ?? 64 * 1024,
    backoffBaseMs: options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS,
    backoffCapMs: options.backoffCapMs ?? DEFAULT_BACKOFF_CAP_MS,
    conditions,
    statusCodes: new Set(retriableStatusCodes),
  });
}

function invalid(path: string, message: string): MeshError {
  return new MeshError('INVALID_CONFIG', `retry policy: ${path} ${message}`, {
    details: [{ path, message }],
  });
}

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/** Whether the outcome is one the policy retries on (ignoring attempts and method). */
export function isRetriableOutcome(policy: RetryPolicy, outcome: AttemptOutcome): boolean {
  const conditions = policy.conditions;
  if (typeof outcome === 'number') {
    if (outcome >= 500 && outcome <= 599 && (conditions & ANY_5XX) !== 0) return true;
    if ((outcome === 502 || outcome === 503 || outcome === 504) && (conditions & GATEWAY_ERROR) !== 0)
      return true;
    return (conditions & RETRIABLE_STATUS) !== 0 && policy.statusCodes.has(outcome);
  }
  const specific = outcome === 'connect-failure' ? CONNECT_FAILURE : RESET;
  return (conditions & (specific | ANY_5XX | GATEWAY_ERROR)) !== 0;
}

/**
 * Whether to make another attempt after attempt number `attempt` (1 for the first) ended with `outcome`.
 *
 * Idempotent methods (GET HEAD OPTIONS PUT DELETE TRACE) may be retried; any other method only when its
 * body was buffered whole (`bodyBuffered`, at most `maxBufferedBodyBytes`; an empty body counts) so it
 * can be sent again. Whether a retry also fits the budget and the deadline is for the caller to ask
 * (`RetryBudget`, `retryFits`).
 */
export function shouldRetry(
  policy: RetryPolicy,
  attempt: number,
  method: string,
  bodyBuffered: boolean,
  outcome: AttemptOutcome,
): boolean {
  if (attempt >= policy.maxAttempts) return false;
  if (!bodyBuffered && !IDEMPOTENT_METHODS.has(method)) return false;
  return isRetriableOutcome(policy, outcome);
}
