import { createRetryPolicy, type RetryPolicy, type Route, type ServicePolicy } from '../../core/index.ts';

/**
 * What one exchange needs from its service's policy and its route's overrides, computed when the
 * configuration changes so the request path only reads fields.
 */
export interface ExchangeSettings {
  /** Whole exchange, all attempts; 0: none. */
  readonly requestTimeoutMs: number;
  /** No bytes either way for this long; 0: none. */
  readonly idleTimeoutMs: number;
  readonly retry: RetryPolicy;
  /** maxAttempts > 1. */
  readonly retries: boolean;
  /** Request bodies up to this size are kept for a retry (0 when retries are off). */
  readonly bufferLimit: number;
}

/** The settings for a service's policy, with a route's overrides (timeouts, retry) applied. Throws MeshError on an invalid retry policy. */
export function exchangeSettings(policy: ServicePolicy, route?: Route): ExchangeSettings {
  const timeout = { ...policy.timeout, ...route?.timeout };
  const retry = { ...policy.retry, ...route?.retry };
  const retryPolicy = createRetryPolicy({
    retryOn: retry.retryOn,
    maxAttempts: retry.maxAttempts,
    perTryTimeoutMs: retry.perTryTimeoutMs,
    retriableStatusCodes: retry.retriableStatusCodes,
    maxBufferedBodyBytes: retry.maxBufferedBodyBytes,
    backoffBaseMs: retry.backoffBaseMs,
    backoffCapMs: retry.backoffMaxMs,
  });
  const retries = retryPolicy.maxAttempts > 1;
  return Object.freeze({
    requestTimeoutMs: Math.max(0, timeout.requestMs ?? 0),
    idleTimeoutMs: Math.max(0, timeout.idleMs ?? 0),
    retry: retryPolicy,
    retries,
    bufferLimit: retries ? Math.max(0, retryPolicy.maxBufferedBodyBytes) : 0,
  });
}

/** Whether a route changes anything exchangeSettings reads. */
export function hasOverrides(route: Route): boolean {
  return (
    (route.timeout !== undefined && Object.keys(route.timeout).length > 0) ||
    (route.retry !== undefined && Object.keys(route.retry).length > 0)
  );
}
