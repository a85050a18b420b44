import type { ServicePolicy } from './policy.ts';

/** Envoy's and linkerd's defaults; every service without a stored policy uses these. */
export const DEFAULT_SERVICE_POLICY: Readonly<Omit<ServicePolicy, 'service'>> = deepFreeze({
  loadBalancer: { kind: 'ewma' },
  circuitBreaker: {
    enabled: true,
    consecutiveFailures: 5,
    failureRatio: 0.5,
    minRequests: 20,
    windowMs: 10_000,
    recoveryTimeMs: 60_000,
    halfOpenProbes: 3,
  },
  outlierDetection: {
    enabled: true,
    consecutiveErrors: 5,
    baseEjectionTimeMs: 30_000,
    maxEjectionTimeMs: 300_000,
    maxEjectionPercent: 50,
  },
  retry: {
    maxAttempts: 2,
    retryOn: ['connect-failure', 'reset', 'gateway-error'],
    retriableStatusCodes: [503],
    perTryTimeoutMs: 0,
    backoffBaseMs: 25,
    backoffMaxMs: 250,
    maxBufferedBodyBytes: 64 * 1024,
    budget: { ratio: 0.2, minPerSecond: 10 },
  },
  timeout: { requestMs: 15_000, idleMs: 60_000 },
  concurrency: { maxInFlight: 1024, maxPending: 1024 },
  upstreamProtocol: 'http1',
});

/** A fresh (mutable) copy of the defaults for one service. */
export function defaultPolicy(service: string): ServicePolicy {
  return { service, ...structuredClone(DEFAULT_SERVICE_POLICY) } as ServicePolicy;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
