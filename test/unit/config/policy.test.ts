import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SERVICE_POLICY,
  defaultPolicy,
  instanceRegistration,
  resolvePolicy,
  routeInput,
  seedCircuitBreakerConfig,
  seedLoadBalancerConfig,
  seedRetryConfig,
  seedTimeoutConfig,
  servicePolicyInput,
  trellisConfig,
  validate,
} from '../../../src/config/index.ts';
import { failure, paths } from '../../helpers/mesh-error.ts';

describe('service policy defaults', () => {
  it("are Envoy's and linkerd's", () => {
    expect(defaultPolicy('orders')).toEqual({
      service: 'orders',
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
        maxBufferedBodyBytes: 65_536,
        budget: { ratio: 0.2, minPerSecond: 10 },
      },
      timeout: { requestMs: 15_000, idleMs: 60_000 },
      concurrency: { maxInFlight: 1024, maxPending: 1024 },
      upstreamProtocol: 'http1',
    });
  });

  it('are frozen, and every copy is independent of them', () => {
    expect(Object.isFrozen(DEFAULT_SERVICE_POLICY.retry.retryOn)).toBe(true);
    const copy = defaultPolicy('a');
    copy.retry.retryOn.push('5xx');
    expect(defaultPolicy('a').retry.retryOn).toHaveLength(3);
    expect(resolvePolicy('a', {})).toEqual(defaultPolicy('a'));
    expect(resolvePolicy('a', undefined)).toEqual(defaultPolicy('a'));
  });
});

describe('resolvePolicy', () => {
  it('merges per section over the defaults, with durations as strings', () => {
    const policy = resolvePolicy('orders', {
      loadBalancer: { kind: 'ip-hash', hashHeader: 'X-User' },
      retry: { maxAttempts: 3, perTryTimeoutMs: '500ms', budget: { ratio: 0.1 } },
      timeout: { requestMs: '2s' },
      circuitBreaker: { recoveryTimeMs: '1.5m' },
    });
    expect(policy.loadBalancer).toEqual({ kind: 'ip-hash', hashHeader: 'x-user' });
    expect(policy.retry).toMatchObject({
      maxAttempts: 3,
      perTryTimeoutMs: 500,
      retryOn: ['connect-failure', 'reset', 'gateway-error'],
      budget: { ratio: 0.1, minPerSecond: 10 },
    });
    expect(policy.timeout).toEqual({ requestMs: 2000, idleMs: 60_000 });
    expect(policy.circuitBreaker.recoveryTimeMs).toBe(90_000);
    expect(policy.circuitBreaker.consecutiveFailures).toBe(5);
  });

  it('merges over a given base (PATCH), and lists replace lists', () => {
    const base = resolvePolicy('orders', { retry: { maxAttempts: 4, retryOn: ['5xx'] } });
    const patched = resolvePolicy(
      'orders',
      { retry: { retryOn: ['reset', 'reset', 'connect-failure'] } },
      base,
    );
    expect(patched.retry.maxAttempts).toBe(4);
    expect(patched.retry.retryOn).toEqual(['reset', 'connect-failure']);
    // The base is not modified.
    expect(base.retry.retryOn).toEqual(['5xx']);
  });

  it('is idempotent: a resolved policy resolves to itself', () => {
    const policy = resolvePolicy('orders', { timeout: { idleMs: '5m' }, upstreamProtocol: 'h2c' });
    expect(resolvePolicy('orders', policy)).toEqual(policy);
    expect(resolvePolicy('orders', JSON.parse(JSON.stringify(policy)))).toEqual(policy);
  });

  it('checks the service name, and a service named in the body must be the same', () => {
    expect(paths(failure(() => resolvePolicy('a/b', {})))).toEqual(['service']);
    const error = failure(() => resolvePolicy('orders', { service: 'billing' }));
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toBe('invalid policy: service: must be "orders" (the service in the path)');
  });

  const RANGE_CASES: Array<[string, unknown]> = [
    ['loadBalancer.kind', { loadBalancer: { kind: 'fastest' } }],
    ['loadBalancer.hashHeader', { loadBalancer: { hashHeader: 'bad header' } }],
    ['circuitBreaker.enabled', { circuitBreaker: { enabled: 'yes' } }],
    ['circuitBreaker.consecutiveFailures', { circuitBreaker: { consecutiveFailures: -1 } }],
    ['circuitBreaker.consecutiveFailures', { circuitBreaker: { consecutiveFailures: 2.5 } }],
    ['circuitBreaker.failureRatio', { circuitBreaker: { failureRatio: 1.5 } }],
    ['circuitBreaker.failureRatio', { circuitBreaker: { failureRatio: -0.1 } }],
    ['circuitBreaker.minRequests', { circuitBreaker: { minRequests: 0 } }],
    ['circuitBreaker.windowMs', { circuitBreaker: { windowMs: '500ms' } }],
    ['circuitBreaker.recoveryTimeMs', { circuitBreaker: { recoveryTimeMs: '2h' } }],
    ['circuitBreaker.halfOpenProbes', { circuitBreaker: { halfOpenProbes: 0 } }],
    ['outlierDetection.consecutiveErrors', { outlierDetection: { consecutiveErrors: 0 } }],
    ['outlierDetection.baseEjectionTimeMs', { outlierDetection: { baseEjectionTimeMs: 'soon' } }],
    ['outlierDetection.maxEjectionTimeMs', { outlierDetection: { maxEjectionTimeMs: '25h' } }],
    ['outlierDetection.maxEjectionPercent', { outlierDetection: { maxEjectionPercent: 101 } }],
    ['outlierDetection.maxEjectionPercent', { outlierDetection: { maxEjectionPercent: -1 } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 0 } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 11 } }],
    ['retry.retryOn.1', { retry: { retryOn: ['5xx', 'timeout'] } }],
    ['retry.retriableStatusCodes.0', { retry: { retriableStatusCodes: [99] } }],
    ['retry.retriableStatusCodes.1', { retry: { retriableStatusCodes: [503, 600] } }],
    ['retry.perTryTimeoutMs', { retry: { perTryTimeoutMs: -5 } }],
    ['retry.backoffBaseMs', { retry: { backoffBaseMs: 0 } }],
    ['retry.backoffMaxMs', { retry: { backoffMaxMs: '11m' } }],
    ['retry.maxBufferedBodyBytes', { retry: { maxBufferedBodyBytes: 128 * 1024 * 1024 } }],
    ['retry.budget.ratio', { retry: { budget: { ratio: 2 } } }],
    ['retry.budget.minPerSecond', { retry: { budget: { minPerSecond: -1 } } }],
    ['timeout.requestMs', { timeout: { requestMs: '1 second' } }],
    ['timeout.idleMs', { timeout: { idleMs: '25h' } }],
    ['concurrency.maxInFlight', { concurrency: { maxInFlight: 0 } }],
    ['concurrency.maxPending', { concurrency: { maxPending: -1 } }],
    ['upstreamProtocol', { upstreamProtocol: 'h3' }],
    ['retry.maxAtempts', { retry: { maxAtempts: 3 } }],
    ['colour', { colour: 'red' }],
  ];

  it.each(RANGE_CASES)('rejects a bad %s, naming it', (path, input) => {
    const error = failure(() => resolvePolicy('orders', input));
    expect(error.code).toBe('BAD_REQUEST');
    expect(paths(error)).toEqual([path]);
    expect(error.message.startsWith(`invalid policy: ${path}: `)).toBe(true);
  });

  it('names every bad field at once', () => {
    const error = failure(() =>
      resolvePolicy('orders', { retry: { maxAttempts: 20 }, circuitBreaker: { failureRatio: 3 } }),
    );
    expect(paths(error).sort()).toEqual(['circuitBreaker.failureRatio', 'retry.maxAttempts']);
  });

  it('accepts the edges of every range', () => {
    const policy = resolvePolicy('orders', {
      circuitBreaker: { failureRatio: 0, consecutiveFailures: 0 },
      outlierDetection: { maxEjectionPercent: 100 },
      retry: { maxAttempts: 10, retriableStatusCodes: [100, 599], budget: { ratio: 1 } },
      timeout: { requestMs: 0, idleMs: 0 },
      concurrency: { maxPending: 0 },
    });
    expect(policy.retry.maxAttempts).toBe(10);
    expect(resolvePolicy('orders', { retry: { maxAttempts: 1 } }).retry.maxAttempts).toBe(1);
  });

  it('checks rules across fields on the merged policy', () => {
    expect(failure(() => resolvePolicy('orders', { retry: { backoffBaseMs: '1s' } })).message).toBe(
      'invalid policy: retry.backoffBaseMs: must not exceed retry.backoffMaxMs (250ms)',
    );
    // Fine together…
    const base = resolvePolicy('orders', { retry: { backoffBaseMs: '1s', backoffMaxMs: '5s' } });
    // …but not when a later patch lowers the cap under the base.
    expect(paths(failure(() => resolvePolicy('orders', { retry: { backoffMaxMs: '500ms' } }, base)))).toEqual(
      ['retry.backoffBaseMs'],
    );
    expect(
      paths(failure(() => resolvePolicy('orders', { outlierDetection: { baseEjectionTimeMs: '10m' } }))),
    ).toEqual(['outlierDetection.baseEjectionTimeMs']);
    expect(
      paths(
        failure(() =>
          resolvePolicy('orders', {
            retry: { retryOn: ['retriable-status-codes'], retriableStatusCodes: [] },
          }),
        ),
      ),
    ).toEqual(['retry.retriableStatusCodes']);
  });

  it('keeps the input schema free of defaults, so a patch only has what was written', () => {
    expect(validate(servicePolicyInput, { retry: { maxAttempts: 3 } })).toEqual({
      retry: { maxAttempts: 3 },
    });
  });
});

describe('policies in trellis.yaml', () => {
  it('takes services[].policy, with errors at the full path', () => {
    const config = validate(trellisConfig, {
      services: [
        { name: 'web', policy: { loadBalancer: { kind: 'round-robin' }, timeout: { requestMs: '3s' } } },
      ],
    });
    expect(config.services[0]!.policy).toEqual({
      loadBalancer: { kind: 'round-robin' },
      timeout: { requestMs: 3000 },
    });
    const error = failure(() =>
      validate(trellisConfig, { services: [{ name: 'web', policy: { retry: { maxAttempts: 0 } } }] }),
    );
    expect(paths(error)).toEqual(['services.0.policy.retry.maxAttempts']);
    const cross = failure(() =>
      validate(trellisConfig, { services: [{ name: 'web', policy: { retry: { backoffBaseMs: '1s' } } }] }),
    );
    expect(paths(cross)).toEqual(['services.0.policy.retry.backoffBaseMs']);
    const other = failure(() =>
      validate(trellisConfig, { services: [{ name: 'web', policy: { service: 'api' } }] }),
    );
    expect(paths(other)).toEqual(['services.0.policy.service']);
  });
});

describe('the seed configure bodies', () => {
  it('maps strategies, in snake or kebab case, to balancer kinds', () => {
    const cases: Array<[string, string]> = [
      ['round_robin', 'round-robin'],
      ['least_connections', 'least-connections'],
      ['weighted', 'weighted'],
      ['random', 'random'],
      ['ip_hash', 'ip-hash'],
      ['ewma', 'ewma'],
      ['least-connections', 'least-connections'],
      ['IP_HASH', 'ip-hash'],
    ];
    for (const [strategy, kind] of cases) {
      expect(validate(seedLoadBalancerConfig, { service_name: 'a', strategy }).strategy).toBe(kind);
    }
    const error = failure(() => validate(seedLoadBalancerConfig, { service_name: 'a', strategy: 'fastest' }));
    expect(error.message).toBe(
      'invalid input: strategy: expected one of round_robin, least_connections, weighted, random, ip_hash, ewma',
    );
  });

  it('takes seconds as numbers, numeric strings or durations, and ignores extra fields', () => {
    expect(
      validate(seedCircuitBreakerConfig, {
        service_name: 'a',
        failure_threshold: '3',
        recovery_timeout: 1.5,
        extra: true,
      }),
    ).toEqual({ service_name: 'a', failure_threshold: 3, recovery_timeout: 1500 });
    expect(
      validate(seedTimeoutConfig, { service_name: 'a', request_timeout: '2', idle_timeout: '250ms' }),
    ).toEqual({
      service_name: 'a',
      request_timeout: 2000,
      idle_timeout: 250,
    });
    expect(
      paths(failure(() => validate(seedTimeoutConfig, { service_name: 'a', request_timeout: -1 }))),
    ).toEqual(['request_timeout']);
    expect(paths(failure(() => validate(seedTimeoutConfig, { request_timeout: 1 })))).toEqual([
      'service_name',
    ]);
  });

  it('refuses a timeout below 1 ms, in seconds or as a duration, naming the seed field', () => {
    for (const [field, value] of [
      ['request_timeout', 0.0004],
      ['idle_timeout', '0.0005'],
      ['request_timeout', '500us'],
    ] as const) {
      const error = failure(() => validate(seedTimeoutConfig, { service_name: 'a', [field]: value }));
      expect(error.details).toEqual([
        { path: field, message: expect.stringMatching(/^a timeout is 0 \(none\) or at least 1ms, got /) },
      ]);
    }
    const perTry = failure(() => validate(seedRetryConfig, { service_name: 'a', per_try_timeout: 0.0002 }));
    expect(perTry.details).toEqual([
      { path: 'per_try_timeout', message: 'a timeout is 0 (none) or at least 1ms, got 0.0002 seconds' },
    ]);
    expect(
      validate(seedTimeoutConfig, { service_name: 'a', request_timeout: 0, idle_timeout: 0.001 }),
    ).toEqual({
      service_name: 'a',
      request_timeout: 0,
      idle_timeout: 1,
    });
  });

  it('says what a seed number or seconds field expects when given something else', () => {
    expect(
      failure(() => validate(seedTimeoutConfig, { service_name: 'a', request_timeout: true })).details,
    ).toEqual([
      { path: 'request_timeout', message: 'expected a number of seconds, or a duration such as 500ms' },
    ]);
    expect(
      failure(() => validate(seedCircuitBreakerConfig, { service_name: 'a', failure_threshold: 'three' }))
        .details,
    ).toEqual([{ path: 'failure_threshold', message: 'expected a number' }]);
  });

  it('takes retry_on as a list or a comma-separated string, in either case style', () => {
    expect(
      validate(seedRetryConfig, { service_name: 'a', retry_on: ['connect_failure', '5xx', 'gateway-error'] })
        .retry_on,
    ).toEqual(['connect-failure', '5xx', 'gateway-error']);
    expect(validate(seedRetryConfig, { service_name: 'a', retry_on: 'reset,5xx' }).retry_on).toEqual([
      'reset',
      '5xx',
    ]);
    expect(
      paths(failure(() => validate(seedRetryConfig, { service_name: 'a', retry_on: ['sometimes'] }))),
    ).toEqual(['retry_on.0']);
  });
});

describe('timeouts and numbers in policies, routes and trellis.yaml', () => {
  const SUB_MS = /^a timeout is 0 \(none\) or at least 1ms, got /;

  it('refuses a timeout below 1 ms with the path of the field, rather than rounding it to none', () => {
    for (const [section, field, value] of [
      ['timeout', 'requestMs', '500us'],
      ['timeout', 'idleMs', '0.4ms'],
      ['timeout', 'requestMs', 0.5],
      ['retry', 'perTryTimeoutMs', '999us'],
    ] as const) {
      const error = failure(() => resolvePolicy('a', { [section]: { [field]: value } }));
      expect(error.details).toEqual([
        { path: `${section}.${field}`, message: expect.stringMatching(SUB_MS) },
      ]);
      expect(error.message).toMatch(new RegExp(`^invalid policy: ${section}\\.${field}: a timeout is 0`));
    }
    const policy = resolvePolicy('a', {
      timeout: { requestMs: 0, idleMs: '1500us' },
      retry: { perTryTimeoutMs: '1ms' },
    });
    expect(policy.timeout).toEqual({ requestMs: 0, idleMs: 1.5 });
    expect(policy.retry.perTryTimeoutMs).toBe(1);
  });

  it('refuses it in a route and in trellis.yaml too', () => {
    const route = failure(() =>
      validate(
        routeInput,
        { name: 'r', service: 's', timeout: { requestMs: '500us' }, retry: { perTryTimeoutMs: 0.1 } },
        { what: 'route' },
      ),
    );
    expect(paths(route)).toEqual(['timeout.requestMs', 'retry.perTryTimeoutMs']);
    const config = failure(() =>
      validate(trellisConfig, {
        services: [{ name: 'a', policy: { timeout: { idleMs: '100us' } } }],
        routes: [{ name: 'r', service: 'a', timeout: { requestMs: '0.5ms' } }],
      }),
    );
    expect(config.details).toEqual([
      { path: 'services.0.policy.timeout.idleMs', message: expect.stringMatching(SUB_MS) },
      { path: 'routes.0.timeout.requestMs', message: expect.stringMatching(SUB_MS) },
    ]);
  });

  it('says what a duration expects instead of "Invalid input"', () => {
    for (const value of [true, null, {}, Number.NaN]) {
      expect(failure(() => resolvePolicy('a', { timeout: { requestMs: value } })).details).toEqual([
        {
          path: 'timeout.requestMs',
          message: 'expected a duration such as 500ms or 10s, or a number of milliseconds',
        },
      ]);
    }
    expect(
      failure(() =>
        validate(trellisConfig, { services: [{ name: 'a', check: { ttl: '10s', interval: false } }] }),
      ).details,
    ).toEqual([
      {
        path: 'services.0.check.interval',
        message: 'expected a duration such as 500ms or 10s, or a number of milliseconds',
      },
    ]);
  });

  it('states the range of counts and ports', () => {
    const base = { service: 's', address: '127.0.0.1', port: 80 };
    expect(failure(() => validate(instanceRegistration, { ...base, weight: -1 })).details).toEqual([
      { path: 'weight', message: 'must be an integer from 0 to 10000' },
    ]);
    expect(
      failure(() =>
        validate(instanceRegistration, { ...base, check: { ttl: '10s', successesBeforeHealthy: 0 } }),
      ).details,
    ).toEqual([{ path: 'check.successesBeforeHealthy', message: 'must be an integer from 1 to 100' }]);
    expect(
      failure(() => validate(instanceRegistration, { ...base, check: { http: '/', timeout: '0.4ms' } }))
        .details,
    ).toEqual([{ path: 'check.timeout', message: 'at least 1ms' }]);
    expect(failure(() => validate(trellisConfig, { gateway: { port: 70_000 } })).details).toEqual([
      { path: 'gateway.port', message: 'ports are 0-65535' },
    ]);
  });
});
