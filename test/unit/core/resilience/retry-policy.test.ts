import { describe, expect, it } from 'vitest';
import {
  createRetryPolicy,
  isIdempotent,
  isRetriableOutcome,
  shouldRetry,
} from '../../../../src/core/index.ts';

describe('retry policy', () => {
  it('has Envoy-like defaults: 2 attempts, connect failures, resets and gateway errors', () => {
    const policy = createRetryPolicy();
    expect(policy.maxAttempts).toBe(2);
    expect(policy.perTryTimeoutMs).toBe(0);
    expect(policy.retryOn).toEqual(['connect-failure', 'reset', 'gateway-error']);
    expect(shouldRetry(policy, 1, 'GET', false, 503)).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 500)).toBe(false);
    expect(shouldRetry(policy, 1, 'GET', false, 'connect-failure')).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 'reset')).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 'timeout')).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 200)).toBe(false);
  });

  it('stops after maxAttempts', () => {
    const policy = createRetryPolicy({ maxAttempts: 3, retryOn: ['5xx'] });
    expect(shouldRetry(policy, 1, 'GET', false, 500)).toBe(true);
    expect(shouldRetry(policy, 2, 'GET', false, 500)).toBe(true);
    expect(shouldRetry(policy, 3, 'GET', false, 500)).toBe(false);
  });

  it.each([
    ['5xx', 500, true],
    ['5xx', 599, true],
    ['5xx', 'connect-failure', true],
    ['5xx', 'reset', true],
    ['5xx', 'timeout', true],
    ['5xx', 429, false],
    ['gateway-error', 502, true],
    ['gateway-error', 503, true],
    ['gateway-error', 504, true],
    ['gateway-error', 500, false],
    ['gateway-error', 'connect-failure', true],
    ['connect-failure', 'connect-failure', true],
    ['connect-failure', 'reset', false],
    ['connect-failure', 503, false],
    ['reset', 'reset', true],
    ['reset', 'timeout', true],
    ['reset', 'connect-failure', false],
    ['reset', 502, false],
    ['retriable-status-codes', 503, true],
    ['retriable-status-codes', 409, false],
  ] as const)('retryOn %s: outcome %s → %s', (condition, outcome, expected) => {
    expect(isRetriableOutcome(createRetryPolicy({ retryOn: [condition] }), outcome)).toBe(expected);
  });

  it('retries the listed status codes', () => {
    const policy = createRetryPolicy({
      retryOn: ['retriable-status-codes'],
      retriableStatusCodes: [409, 429],
    });
    expect(shouldRetry(policy, 1, 'GET', false, 409)).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 429)).toBe(true);
    expect(shouldRetry(policy, 1, 'GET', false, 503)).toBe(false);
  });

  it('retries idempotent methods; others only when their body was buffered', () => {
    const policy = createRetryPolicy({ retryOn: ['5xx'] });
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) {
      expect(isIdempotent(method)).toBe(true);
      expect(shouldRetry(policy, 1, method, false, 502)).toBe(true);
    }
    for (const method of ['POST', 'PATCH', 'CONNECT']) {
      expect(isIdempotent(method)).toBe(false);
      expect(shouldRetry(policy, 1, method, false, 502)).toBe(false);
      expect(shouldRetry(policy, 1, method, true, 502)).toBe(true);
    }
    expect(policy.maxBufferedBodyBytes).toBe(64 * 1024);
  });

  it('rejects invalid settings with INVALID_CONFIG and the field path', () => {
    expect(() => createRetryPolicy({ retryOn: ['bogus' as never] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        details: [expect.objectContaining({ path: 'retryOn' })],
      }),
    );
    expect(() => createRetryPolicy({ maxAttempts: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
    expect(() => createRetryPolicy({ retriableStatusCodes: [700] })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
    expect(() => createRetryPolicy({ perTryTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG' }),
    );
  });

  it('is frozen', () => {
    expect(Object.isFrozen(createRetryPolicy())).toBe(true);
  });
});
