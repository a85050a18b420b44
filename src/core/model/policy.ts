import type { BalancerKind } from '../balancers/index.ts';
import type { RetryOn } from '../resilience/index.ts';

/**
 * How traffic to one service is handled, by every proxy and SDK client that calls it. Stored per
 * service, changed at runtime through the API, applied by proxies from the watch stream. All
 * durations are milliseconds; every field has a default (see DEFAULT_SERVICE_POLICY in config).
 */
export interface ServicePolicy {
  service: string;
  loadBalancer: {
    kind: BalancerKind;
    /** ip-hash: hash this request header instead of the client address. */
    hashHeader?: string;
  };
  /** Per endpoint. */
  circuitBreaker: {
    enabled: boolean;
    consecutiveFailures: number;
    failureRatio: number;
    minRequests: number;
    windowMs: number;
    recoveryTimeMs: number;
    halfOpenProbes: number;
  };
  /** Per cluster (the proxy's view of the service). */
  outlierDetection: {
    enabled: boolean;
    consecutiveErrors: number;
    baseEjectionTimeMs: number;
    maxEjectionTimeMs: number;
    maxEjectionPercent: number;
  };
  retry: {
    /** Attempts in all, the first included; 1 disables retries. */
    maxAttempts: number;
    retryOn: RetryOn[];
    retriableStatusCodes: number[];
    /** 0: only the request timeout bounds an attempt. */
    perTryTimeoutMs: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** Non-idempotent requests are retried only when their body fits in this buffer. */
    maxBufferedBodyBytes: number;
    budget: { ratio: number; minPerSecond: number };
  };
  timeout: {
    /** Whole request, all attempts; 0 disables. */
    requestMs: number;
    /** No bytes either way for this long ends the request; 0 disables. */
    idleMs: number;
  };
  /** Per cluster: more in flight queue as pending; more pending answer 503 OVERFLOW at once. */
  concurrency: { maxInFlight: number; maxPending: number };
  /** How proxies speak to the service's instances. */
  upstreamProtocol: 'http1' | 'h2c';
}

/** How a gateway route matches a request path. */
export type PathMatch = { exact: string } | { prefix: string } | { regex: string };

export interface HeaderMatch {
  name: string;
  /** Exactly one of exact, regex, present. */
  exact?: string;
  regex?: string;
  present?: boolean;
}

/** A gateway route: which requests go to which service, and what is rewritten on the way. */
export interface Route {
  name: string;
  /** Higher first; ties go to the longer path match, then to the name. */
  priority: number;
  match: {
    /** Exact host or `*.example.com`; without port. Absent: any host. */
    hosts?: string[];
    path?: PathMatch;
    methods?: string[];
    headers?: HeaderMatch[];
  };
  service: string;
  /** Remove the matched path prefix before forwarding (prefix matches only). */
  stripPrefix: boolean;
  /** Replace the Host header sent upstream. */
  rewriteHost?: string;
  /** Overrides of the service's policy for this route. */
  timeout?: Partial<ServicePolicy['timeout']>;
  retry?: Partial<Omit<ServicePolicy['retry'], 'budget'>>;
  createdAt: number;
}
