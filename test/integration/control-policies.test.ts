/** Service policies over HTTP: the native API, the seed mesh's configure endpoints, and the watch stream. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../src/config/index.ts';
import type { MeshChange, MeshSnapshot } from '../../src/core/index.ts';
import { call, openEventStream, startTestControl, type TestControl } from '../helpers/control.ts';

describe('control plane: service policies', () => {
  let control: TestControl;
  let base: string;

  beforeAll(async () => {
    control = await startTestControl();
    base = control.url;
  });

  afterAll(async () => {
    await control?.close();
  });

  const policyPath = (service: string) => `/api/v1/services/${service}/policy`;

  it('shows the defaults for a known service and 404 for an unknown one', async () => {
    await call(base, 'POST', '/api/v1/instances', { service: 'web', address: '127.0.0.1', port: 8081 });
    const shown = await call(base, 'GET', policyPath('web'));
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual(defaultPolicy('web'));

    const missing = await call(base, 'GET', policyPath('nobody'));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('SERVICE_NOT_FOUND');
    expect((await call(base, 'DELETE', policyPath('nobody'))).status).toBe(404);
  });

  it('PUT replaces the policy (the body over the defaults) and creates the service', async () => {
    const put = await call(base, 'PUT', policyPath('orders'), {
      loadBalancer: { kind: 'least-connections' },
      retry: { maxAttempts: 3, perTryTimeoutMs: '500ms' },
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      ...defaultPolicy('orders'),
      loadBalancer: { kind: 'least-connections' },
      retry: { ...defaultPolicy('orders').retry, maxAttempts: 3, perTryTimeoutMs: 500 },
    });
    expect((await call(base, 'GET', '/api/v1/services/orders')).status).toBe(200);
    expect((await call(base, 'GET', policyPath('orders'))).body).toEqual(put.body);

    // A second PUT starts from the defaults again, not from the current policy.
    const again = await call(base, 'PUT', policyPath('orders'), { timeout: { requestMs: '2s' } });
    expect(again.body.loadBalancer).toEqual({ kind: 'ewma' });
    expect(again.body.retry.maxAttempts).toBe(2);
    expect(again.body.timeout).toEqual({ requestMs: 2000, idleMs: 60_000 });

    // What GET answers can be sent back as is.
    const roundTrip = await call(base, 'PUT', policyPath('orders'), again.body);
    expect(roundTrip.status).toBe(200);
    expect(roundTrip.body).toEqual(again.body);
  });

  it('PATCH merges over the current policy', async () => {
    await call(base, 'PUT', policyPath('billing'), { retry: { maxAttempts: 4 } });
    const patched = await call(base, 'PATCH', policyPath('billing'), {
      retry: { retryOn: ['5xx'] },
      circuitBreaker: { enabled: false },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.retry).toMatchObject({ maxAttempts: 4, retryOn: ['5xx'] });
    expect(patched.body.circuitBreaker).toMatchObject({ enabled: false, consecutiveFailures: 5 });
    // PATCH on a service with no stored policy merges over the defaults and creates the service.
    const fresh = await call(base, 'PATCH', policyPath('fresh'), { upstreamProtocol: 'h2c' });
    expect(fresh.body).toEqual({ ...defaultPolicy('fresh'), upstreamProtocol: 'h2c' });
  });

  it('refuses bad bodies with the path of each bad field, and changes nothing', async () => {
    await call(base, 'PUT', policyPath('strict'), { retry: { maxAttempts: 3 } });
    const before = (await call(base, 'GET', policyPath('strict'))).body;
    const revision = (await call(base, 'GET', '/api/v1/snapshot')).body.revision;

    const patch = await call(base, 'PATCH', policyPath('strict'), {
      retry: { maxAttempts: 11, retryOn: ['sometimes'] },
      circuitBreaker: { failureRatio: 1.5 },
      outlierDetection: { maxEjectionPercent: 120 },
      timeout: { requestMs: 'soon' },
    });
    expect(patch.status).toBe(400);
    expect(patch.body.error.code).toBe('BAD_REQUEST');
    expect(patch.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      'circuitBreaker.failureRatio',
      'outlierDetection.maxEjectionPercent',
      'retry.maxAttempts',
      'retry.retryOn.0',
      'timeout.requestMs',
    ]);

    const cross = await call(base, 'PATCH', policyPath('strict'), { retry: { backoffMaxMs: '10ms' } });
    expect(cross.status).toBe(400);
    expect(cross.body.error.message).toBe(
      'invalid policy: retry.backoffBaseMs: must not exceed retry.backoffMaxMs (10ms)',
    );

    const put = await call(base, 'PUT', policyPath('strict'), { loadBalancer: { kind: 'fastest' } });
    expect(put.status).toBe(400);
    expect(put.body.error.details[0].path).toBe('loadBalancer.kind');

    const typo = await call(base, 'PATCH', policyPath('strict'), { retry: { maxAttempt: 3 } });
    expect(typo.body.error.message).toBe('invalid policy: retry.maxAttempt: unknown field "maxAttempt"');

    const wrongService = await call(base, 'PUT', policyPath('strict'), { service: 'other' });
    expect(wrongService.body.error.details[0].path).toBe('service');

    const notJson = await call(base, 'PATCH', policyPath('strict'), '{nope');
    expect(notJson.status).toBe(400);

    // Nothing changed: the policy is as it was and the store did not move.
    expect((await call(base, 'GET', policyPath('strict'))).body).toEqual(before);
    expect((await call(base, 'GET', '/api/v1/snapshot')).body.revision).toBe(revision);
    // A rejected body for a new service does not create it.
    const rejected = await call(base, 'PATCH', policyPath('ghost'), { retry: { maxAttempts: 0 } });
    expect(rejected.status).toBe(400);
    expect((await call(base, 'GET', '/api/v1/services/ghost')).status).toBe(404);
  });

  it('refuses a timeout below 1 ms (it would round to none) and says what a duration is', async () => {
    await call(base, 'PUT', policyPath('quick'), { timeout: { requestMs: '2s' } });
    const before = (await call(base, 'GET', policyPath('quick'))).body;
    const sub = await call(base, 'PATCH', policyPath('quick'), {
      timeout: { requestMs: '500us', idleMs: 0.5 },
      retry: { perTryTimeoutMs: '0.4ms' },
    });
    expect(sub.status).toBe(400);
    expect(sub.body.error).toEqual({
      code: 'BAD_REQUEST',
      message: 'invalid policy: retry.perTryTimeoutMs: a timeout is 0 (none) or at least 1ms, got "0.4ms"',
      details: [
        { path: 'retry.perTryTimeoutMs', message: 'a timeout is 0 (none) or at least 1ms, got "0.4ms"' },
        { path: 'timeout.requestMs', message: 'a timeout is 0 (none) or at least 1ms, got "500us"' },
        { path: 'timeout.idleMs', message: 'a timeout is 0 (none) or at least 1ms, got 0.5' },
      ],
    });
    const wrongType = await call(base, 'PATCH', policyPath('quick'), { timeout: { idleMs: true } });
    expect(wrongType.body.error.details).toEqual([
      {
        path: 'timeout.idleMs',
        message: 'expected a duration such as 500ms or 10s, or a number of milliseconds',
      },
    ]);
    expect((await call(base, 'GET', policyPath('quick'))).body).toEqual(before);
    const off = await call(base, 'PATCH', policyPath('quick'), { timeout: { requestMs: 0, idleMs: '1ms' } });
    expect(off.body.timeout).toEqual({ requestMs: 0, idleMs: 1 });
  });

  it('DELETE goes back to the defaults; GET /api/v1/policies lists only stored ones', async () => {
    await call(base, 'PUT', policyPath('resettable'), { retry: { maxAttempts: 5 } });
    const listed = await call(base, 'GET', '/api/v1/policies');
    expect(listed.body.policies.map((policy: { service: string }) => policy.service)).toContain('resettable');

    const reset = await call(base, 'DELETE', policyPath('resettable'));
    expect(reset.status).toBe(200);
    expect(reset.body).toEqual(defaultPolicy('resettable'));
    expect((await call(base, 'GET', policyPath('resettable'))).body).toEqual(defaultPolicy('resettable'));
    const after = await call(base, 'GET', '/api/v1/policies');
    expect(after.body.policies.map((policy: { service: string }) => policy.service)).not.toContain(
      'resettable',
    );
    // Deleting again is fine: the service is still on the defaults.
    expect((await call(base, 'DELETE', policyPath('resettable'))).status).toBe(200);
  });

  it('deleting a service deletes its policy', async () => {
    await call(base, 'PUT', policyPath('doomed'), { retry: { maxAttempts: 5 } });
    expect((await call(base, 'DELETE', '/api/v1/services/doomed')).status).toBe(200);
    expect((await call(base, 'GET', policyPath('doomed'))).status).toBe(404);
  });

  describe('the seed mesh configure endpoints', () => {
    const configure = (kind: string, body: unknown) =>
      call(base, 'POST', `/api/v1/mesh/v2/configure/${kind}`, body);

    it('load_balancer', async () => {
      const answer = await configure('load_balancer', { service_name: 'seeded', strategy: 'round_robin' });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({
        service_name: 'seeded',
        status: 'configured',
        policy: { kind: 'round-robin' },
        message: 'Load balancer configured for seeded',
      });
      for (const [strategy, kind] of [
        ['least_connections', 'least-connections'],
        ['weighted', 'weighted'],
        ['random', 'random'],
        ['ip_hash', 'ip-hash'],
        ['ewma', 'ewma'],
        ['least-connections', 'least-connections'],
      ]) {
        const each = await configure('load_balancer', { service_name: 'seeded', strategy });
        expect(each.body.policy).toEqual({ kind });
      }
      expect((await call(base, 'GET', policyPath('seeded'))).body.loadBalancer).toEqual({
        kind: 'least-connections',
      });
    });

    it('circuit_breaker, with seconds', async () => {
      const answer = await configure('circuit_breaker', {
        service_name: 'seeded',
        failure_threshold: 3,
        recovery_timeout: 30,
        half_open_requests: 2,
        failure_ratio: 0.25,
      });
      expect(answer.body).toEqual({
        service_name: 'seeded',
        status: 'configured',
        policy: {
          enabled: true,
          consecutiveFailures: 3,
          failureRatio: 0.25,
          minRequests: 20,
          windowMs: 10_000,
          recoveryTimeMs: 30_000,
          halfOpenProbes: 2,
        },
        message: 'Circuit breaker configured for seeded',
      });
      // Only what is sent changes.
      const partial = await configure('circuit_breaker', { service_name: 'seeded', failure_threshold: 7 });
      expect(partial.body.policy).toMatchObject({
        consecutiveFailures: 7,
        recoveryTimeMs: 30_000,
        halfOpenProbes: 2,
      });
    });

    it('retry', async () => {
      const answer = await configure('retry', {
        service_name: 'seeded',
        max_attempts: 4,
        retry_on: ['connect-failure', '5xx'],
        per_try_timeout: 0.5,
        backoff_base: 0.05,
        backoff_max: 1,
      });
      expect(answer.body).toEqual({
        service_name: 'seeded',
        status: 'configured',
        policy: {
          maxAttempts: 4,
          retryOn: ['connect-failure', '5xx'],
          retriableStatusCodes: [503],
          perTryTimeoutMs: 500,
          backoffBaseMs: 50,
          backoffMaxMs: 1000,
          maxBufferedBodyBytes: 65_536,
          budget: { ratio: 0.2, minPerSecond: 10 },
        },
        message: 'Retry policy configured for seeded',
      });
    });

    it('timeout', async () => {
      const answer = await configure('timeout', {
        service_name: 'seeded',
        request_timeout: 5,
        idle_timeout: 120,
      });
      expect(answer.body).toEqual({
        service_name: 'seeded',
        status: 'configured',
        policy: { requestMs: 5000, idleMs: 120_000 },
        message: 'Timeout configured for seeded',
      });
      // Everything configured so far is in the one policy.
      const policy = (await call(base, 'GET', policyPath('seeded'))).body;
      expect(policy).toMatchObject({
        loadBalancer: { kind: 'least-connections' },
        circuitBreaker: { consecutiveFailures: 7 },
        retry: { maxAttempts: 4 },
        timeout: { requestMs: 5000 },
      });
    });

    it('refuses bad values naming the seed field, and changes nothing', async () => {
      const before = (await call(base, 'GET', policyPath('seeded'))).body;
      const attempts = await configure('retry', { service_name: 'seeded', max_attempts: 0 });
      expect(attempts.status).toBe(400);
      expect(attempts.body.error).toEqual({
        code: 'BAD_REQUEST',
        message: 'invalid configuration: max_attempts: must be an integer from 1 to 10',
        details: [{ path: 'max_attempts', message: 'must be an integer from 1 to 10' }],
      });
      const ratio = await configure('circuit_breaker', { service_name: 'seeded', failure_ratio: 2 });
      expect(ratio.body.error.details[0].path).toBe('failure_ratio');
      const strategy = await configure('load_balancer', { service_name: 'seeded', strategy: 'fastest' });
      expect(strategy.body.error.details[0].path).toBe('strategy');
      const seconds = await configure('timeout', { service_name: 'seeded', request_timeout: 'later' });
      expect(seconds.body.error.details[0].path).toBe('request_timeout');
      const name = await configure('timeout', { request_timeout: 1 });
      expect(name.body.error.details[0].path).toBe('service_name');
      expect((await call(base, 'GET', policyPath('seeded'))).body).toEqual(before);
    });

    it('refuses a timeout below 1 ms rather than rounding it to none, naming the seed field', async () => {
      const before = (await call(base, 'GET', policyPath('seeded'))).body;
      const request = await configure('timeout', { service_name: 'seeded', request_timeout: 0.0004 });
      expect(request.status).toBe(400);
      expect(request.body.error).toEqual({
        code: 'BAD_REQUEST',
        message:
          'invalid configuration: request_timeout: a timeout is 0 (none) or at least 1ms, got 0.0004 seconds',
        details: [
          { path: 'request_timeout', message: 'a timeout is 0 (none) or at least 1ms, got 0.0004 seconds' },
        ],
      });
      const idle = await configure('timeout', { service_name: 'seeded', idle_timeout: '500us' });
      expect(idle.body.error.details).toEqual([
        { path: 'idle_timeout', message: 'a timeout is 0 (none) or at least 1ms, got "500us"' },
      ]);
      const perTry = await configure('retry', { service_name: 'seeded', per_try_timeout: '0.0001' });
      expect(perTry.body.error.details[0].path).toBe('per_try_timeout');
      const wrongType = await configure('circuit_breaker', {
        service_name: 'seeded',
        failure_threshold: 'many',
      });
      expect(wrongType.body.error.details).toEqual([
        { path: 'failure_threshold', message: 'expected a number' },
      ]);
      expect((await call(base, 'GET', policyPath('seeded'))).body).toEqual(before);
    });

    it('answers 404 naming the kinds for an unknown one', async () => {
      const answer = await configure('rate_limit', { service_name: 'seeded' });
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('NOT_FOUND');
      expect(answer.body.error.message).toBe(
        'unknown configuration "rate_limit": expected one of load_balancer, circuit_breaker, retry, timeout',
      );
    });
  });

  it('the watch stream carries policy changes and snapshots hold policies', async () => {
    await call(base, 'PUT', policyPath('watched'), { retry: { maxAttempts: 3 } });
    const stream = await openEventStream(`${base}/api/v1/watch`);
    try {
      const snapshot = JSON.parse(
        (await stream.next((event) => event.event === 'snapshot')).data,
      ) as MeshSnapshot;
      expect(snapshot.policies.find((policy) => policy.service === 'watched')?.retry.maxAttempts).toBe(3);
      expect(Array.isArray(snapshot.routes)).toBe(true);

      await call(base, 'PATCH', policyPath('watched'), { loadBalancer: { kind: 'random' } });
      const put = JSON.parse(
        (await stream.next((event) => event.event === 'change' && event.data.includes('policy.put'))).data,
      ) as Extract<MeshChange, { type: 'policy.put' }>;
      expect(put.policy).toMatchObject({
        service: 'watched',
        loadBalancer: { kind: 'random' },
        retry: { maxAttempts: 3 },
      });

      await call(base, 'POST', '/api/v1/mesh/v2/configure/timeout', {
        service_name: 'watched',
        request_timeout: 1,
      });
      const seeded = await stream.next(
        (event) => event.event === 'change' && event.data.includes('"requestMs":1000'),
      );
      expect(Number(seeded.id)).toBeGreaterThan(Number(put.revision));

      await call(base, 'DELETE', policyPath('watched'));
      const deleted = JSON.parse(
        (await stream.next((event) => event.event === 'change' && event.data.includes('policy.delete'))).data,
      );
      expect(deleted).toMatchObject({ type: 'policy.delete', service: 'watched' });
    } finally {
      stream.close();
    }
  });
});
