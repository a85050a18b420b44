/**
 * `promtool check metrics` (Debian's prometheus package; scripts/provision.sh installs it) on the
 * real exposition of a proxy, of a gateway with worker processes (their metrics combined by the
 * primary) and of a control node after real traffic. A missing promtool fails the test: it is never
 * skipped.
 */
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DataPlane, startDataPlane } from '../../src/proxy/data-plane/data-plane.ts';
import type { MetricsServer } from '../../src/proxy/index.ts';
import { createProxy, createStaticSource, type TrellisProxy } from '../../src/proxy/index.ts';
import { renderFamilies } from '../../src/telemetry/index.ts';
import { startTestControl, type TestControl } from '../helpers/control.ts';
import { parseExposition } from '../helpers/exposition.ts';
import { freePort } from '../helpers/ports.ts';
import { serviceRoute } from '../helpers/proxy-harness.ts';
import { echo, instance, policy, request, startUpstream, type Upstream } from './proxy-helpers.ts';

interface PromtoolResult {
  code: number | null;
  output: string;
}

/** Feeds `text` to `promtool check metrics` on stdin. */
function promtoolCheck(text: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error('promtool is not installed: apt-get install prometheus (see scripts/provision.sh)')
          : error,
      );
    });
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
}

describe('promtool check metrics', () => {
  let upstream: Upstream;
  let proxy: TrellisProxy;
  let metricsServer: MetricsServer;
  let control: TestControl;
  let workers: DataPlane;
  /** Requests the workers' gateway answered 200, one connection each. */
  const WORKER_REQUESTS = 8;

  beforeAll(async () => {
    upstream = await startUpstream(echo('checked'));
    const deadPort = await freePort();
    const breakerPolicy = policy('broken', {
      circuitBreaker: { ...policy('broken').circuitBreaker, enabled: true, consecutiveFailures: 1 },
      retry: { ...policy('broken').retry, maxAttempts: 2, backoffBaseMs: 1, backoffMaxMs: 2 },
    });
    const source = createStaticSource({
      instances: [
        instance('checked', upstream.port),
        instance('checked', upstream.port, { id: 'checked-degraded', health: 'degraded' }),
        instance('broken', deadPort),
      ],
      policies: [breakerPolicy],
      routes: [serviceRoute('checked'), serviceRoute('broken')],
    });
    proxy = createProxy({ source, logger: pino({ level: 'silent' }), metrics: { processMetrics: true } });
    const gateway = await proxy.gateway({ port: 0 });
    const outbound = await proxy.outbound({ port: 0 });
    metricsServer = await proxy.serveMetrics({ port: 0 });
    // Traffic that fills every family: successes, a body, a connect error and a retry, an open
    // breaker, an unrouted request, the outbound direction.
    for (let i = 0; i < 3; i++) await request(gateway.port, 'GET', '/checked/x');
    await request(gateway.port, 'POST', '/checked/x', { body: 'hello' });
    await request(gateway.port, 'GET', '/broken/x');
    await request(gateway.port, 'GET', '/broken/x');
    await request(gateway.port, 'GET', '/none');
    await request(outbound.port, 'GET', '/x', { headers: { host: 'checked' } });

    control = await startTestControl();
    await fetch(`${control.url}/api/v1/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'checked', address: '127.0.0.1', port: upstream.port }),
    });
    await fetch(`${control.url}/api/v1/routes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'checked', service: 'checked', match: { path: { prefix: '/checked' } } }),
    });
    const gatewayPort = control.gateway!.port;
    const until = Date.now() + 5_000;
    while ((await request(gatewayPort, 'GET', '/checked/x')).status !== 200 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    // `trellis gateway --workers 2 --metrics-port …`: the primary answers scrapes with both workers'.
    workers = await startDataPlane({
      control: control.url,
      plan: {
        listeners: [{ kind: 'gateway', host: '127.0.0.1', port: await freePort() }],
        drainTimeoutMs: 1_000,
        busyPollMs: 0,
      },
      workers: 2,
      logger: pino({ level: 'silent' }),
      observability: { metricsPort: 0 },
    });
    const workersPort = workers.listeners[0].port;
    const ready = Date.now() + 10_000;
    while ((await request(workersPort, 'GET', '/checked/x')).status !== 200 && Date.now() < ready) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Until both workers have the view, one of them may still answer NO_HEALTHY_UPSTREAM: count 200s.
    let answered = 0;
    while (answered < WORKER_REQUESTS && Date.now() < ready) {
      if ((await request(workersPort, 'GET', '/checked/x')).status === 200) answered++;
    }
  }, 60_000);

  afterAll(async () => {
    await workers?.close();
    await proxy?.close();
    await control?.close();
    await upstream?.close();
  });

  it("passes on a proxy's /metrics", async () => {
    const text = await (await fetch(metricsServer.url)).text();
    // promtool accepts empty input: make sure the families under test are really there.
    const exposition = parseExposition(text);
    for (const name of [
      'trellis_requests_total',
      'trellis_request_duration_seconds_bucket',
      'trellis_upstream_connect_errors_total',
      'trellis_retries_total',
      'trellis_mesh_errors_total',
      'trellis_circuit_breaker_state',
      'trellis_endpoints',
      'process_cpu_seconds_total',
    ]) {
      expect(exposition.find(name).length, name).toBeGreaterThan(0);
    }
    expect(exposition.sum('trellis_circuit_breaker_state', { service: 'broken' })).toBe(1);
    const result = await promtoolCheck(text);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it("passes on a control node's /metrics and /api/v1/mesh/v2/metrics (with its gateway's)", async () => {
    for (const path of ['/metrics', '/api/v1/mesh/v2/metrics']) {
      const text = await (await fetch(control.url + path)).text();
      const exposition = parseExposition(text);
      for (const name of [
        'trellis_store_revision',
        'trellis_watch_subscribers',
        'trellis_registered_instances',
        'trellis_health_checks_total',
        'trellis_requests_total',
        'process_resident_memory_bytes',
      ]) {
        expect(exposition.find(name).length, `${path} ${name}`).toBeGreaterThan(0);
      }
      const result = await promtoolCheck(text);
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    }
  });

  it("passes on a gateway's /metrics with workers, combined by the primary", async () => {
    const text = await (await fetch(workers.metrics!.url)).text();
    const exposition = parseExposition(text);
    const labels = { service: 'checked', direction: 'gateway', status_class: '2xx' };
    // At least the counted 200s (and the first one that found the view), all of them in one series.
    expect(exposition.sum('trellis_requests_total', labels)).toBeGreaterThanOrEqual(WORKER_REQUESTS + 1);
    expect(exposition.find('trellis_requests_total', labels)).toHaveLength(1);
    expect(exposition.sum('trellis_request_duration_seconds_count', { service: 'checked' })).toBe(
      exposition.sum('trellis_requests_total', { service: 'checked' }),
    );
    // One series per process metric, whatever the number of workers; the version is not summed.
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(exposition.find(name), name).toHaveLength(1);
    }
    expect(exposition.find('nodejs_version_info')[0].value).toBe(1);
    expect(exposition.types.get('nodejs_gc_duration_seconds')).toBe('histogram');
    const result = await promtoolCheck(text);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('passes on escaped label values, escaped help and special values', async () => {
    const text = renderFamilies([
      {
        name: 'trellis_odd_things',
        help: 'Help with a \\ backslash,\n a newline and "quotes".',
        type: 'gauge',
        aggregation: 'sum',
        samples: [
          { labels: { service: 'a\\b"c\nd' }, value: Number.NaN },
          { labels: { service: 'plus' }, value: Number.POSITIVE_INFINITY },
          { labels: { service: 'minus' }, value: Number.NEGATIVE_INFINITY },
          { labels: { service: 'small' }, value: 1e-9 },
        ],
      },
      {
        name: 'trellis_odd_seconds',
        help: 'A histogram without labels.',
        type: 'histogram',
        aggregation: 'sum',
        bounds: [1e-7, 0.001, 2.5],
        samples: [{ labels: {}, counts: [1, 0, 2, 3], sum: 12.5 }],
      },
    ]);
    expect(text).toContain('service="a\\\\b\\"c\\nd"} NaN');
    const result = await promtoolCheck(text);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('fails on broken exposition (the check is real)', async () => {
    const result = await promtoolCheck('# TYPE trellis_things counter\ntrellis_things 1\n');
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('_total');
  });
});
