/** The setup the proxy integration tests share: a quiet proxy over a static source, routes and policies. */
import { pino } from 'pino';
import type { Logger, Route, ServicePolicy } from '../../src/core/index.ts';
import {
  createProxy,
  createStaticSource,
  type ProxyDeps,
  type ProxyListener,
  type StaticSource,
  type StaticSourceInput,
  type TrellisProxy,
} from '../../src/proxy/index.ts';
import { policy } from '../integration/proxy-helpers.ts';

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export interface TestProxy {
  proxy: TrellisProxy;
  source: StaticSource;
}

/** A proxy with a silent logger over a static source holding `input`; it opens no listener. */
export function createTestProxy(
  input: StaticSourceInput,
  deps: Partial<Omit<ProxyDeps, 'source'>> = {},
): TestProxy {
  const source = createStaticSource(input);
  return { proxy: createProxy({ source, logger: silentLogger(), ...deps }), source };
}

/** The same with a gateway listener on a free port. */
export async function startTestGateway(
  input: StaticSourceInput,
  deps: Partial<Omit<ProxyDeps, 'source'>> = {},
): Promise<TestProxy & { gateway: ProxyListener }> {
  const made = createTestProxy(input, deps);
  return { ...made, gateway: await made.proxy.gateway({ port: 0 }) };
}

/** Closes each in turn (a proxy before its upstreams); skips those a failed setup left undefined. */
export async function closeAll(...closables: Array<{ close(): Promise<void> } | undefined>): Promise<void> {
  for (const closable of closables) await closable?.close();
}

/** A route named after `service` for the paths under `/<service>`, a prefix it strips. */
export function serviceRoute(service: string): Route {
  return {
    name: service,
    priority: 0,
    match: { path: { prefix: `/${service}` } },
    service,
    stripPrefix: true,
    createdAt: 0,
  };
}

type PolicyChanges = Parameters<typeof policy>[1];

/** Round-robin, no breaker, no outlier detection, no retries: each test turns on what it looks at. */
export function plainPolicy(service: string, changes: PolicyChanges = {}): ServicePolicy {
  const base = policy(service);
  return policy(service, {
    loadBalancer: { kind: 'round-robin' },
    circuitBreaker: { ...base.circuitBreaker, enabled: false },
    outlierDetection: { ...base.outlierDetection, enabled: false },
    retry: { ...base.retry, maxAttempts: 1 },
    ...changes,
  });
}

/** The default retry policy of `service` with `changes`. */
export function retryPolicy(
  service: string,
  changes: Partial<ServicePolicy['retry']>,
): ServicePolicy['retry'] {
  return { ...policy(service).retry, ...changes };
}

/** The same with a 1–5 ms backoff, so that tests of retries wait little. */
export function quickRetryPolicy(
  service: string,
  changes: Partial<ServicePolicy['retry']>,
): ServicePolicy['retry'] {
  return retryPolicy(service, { backoffBaseMs: 1, backoffMaxMs: 5, ...changes });
}
