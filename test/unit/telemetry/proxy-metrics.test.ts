import { register as globalRegister } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { BreakerState, HealthState } from '../../../src/core/index.ts';
import {
  aggregateFamilies,
  type ClusterView,
  createControlMetrics,
  createProxyMetrics,
  DURATION_BUCKETS_SECONDS,
  HealthCheckStats,
  methodIndex,
  PROXY_METRICS,
  renderFamilies,
  statsSlots,
} from '../../../src/telemetry/index.ts';
import { parseExposition } from '../../helpers/exposition.ts';

const cluster = (name: string) => ({ name, stats: statsSlots() });

describe('ListenerStats', () => {
  it('fills a holder slot on first use and hands out the same stats afterwards', () => {
    const metrics = createProxyMetrics();
    const outbound = metrics.listener('outbound');
    const orders = cluster('orders');
    const first = outbound.statsOf(orders, null);
    expect(orders.stats[outbound.index]).toBe(first);
    expect(outbound.statsOf(orders, null)).toBe(first);
    // Another holder object for the same service (a recreated cluster) shares the stats.
    expect(outbound.statsOf(cluster('orders'), null)).toBe(first);
    expect(first).toMatchObject({ service: 'orders', route: '', direction: 'outbound' });
  });

  it('keeps directions and routes apart', () => {
    const metrics = createProxyMetrics();
    const orders = cluster('orders');
    const route = { routeName: 'api', httpRoute: '/api/*', stats: statsSlots() };
    const viaRoute = metrics.listener('gateway').statsOf(orders, route);
    const outbound = metrics.listener('outbound').statsOf(orders, null);
    const inbound = metrics.listener('inbound').statsOf(orders, null);
    expect(new Set([viaRoute, outbound, inbound]).size).toBe(3);
    expect(viaRoute).toMatchObject({ service: 'orders', route: 'api', direction: 'gateway' });
    expect(route.stats.filter(Boolean)).toEqual([viaRoute]);
    expect(metrics.listener('gateway')).toBe(metrics.listener('gateway'));
  });

  it('counts refused heads under the unknown service with method other', async () => {
    const metrics = createProxyMetrics();
    metrics.listener('gateway').refused(431);
    const text = parseExposition(await metrics.text());
    expect(
      text.sum('trellis_requests_total', { service: 'unknown', method: 'other', status_class: '4xx' }),
    ).toBe(1);
    expect(text.sum('trellis_mesh_errors_total', { service: 'unknown', code: 'BAD_REQUEST' })).toBe(1);
  });
});

describe('proxy metrics exposition', () => {
  afterEach(() => globalRegister.clear());

  it('reads the counters at scrape time: requests, cumulative buckets, sum in seconds, count', async () => {
    const metrics = createProxyMetrics();
    const stats = metrics
      .listener('gateway')
      .statsOf(cluster('orders'), { routeName: 'api', httpRoute: '/api/*', stats: statsSlots() });
    stats.record(methodIndex('GET'), 200, 0.4);
    stats.record(methodIndex('GET'), 200, 3);
    stats.record(methodIndex('POST'), 502, 12_000);
    stats.recordError('UPSTREAM_CONNECT_FAILED');
    stats.retries = 2;
    stats.connectErrors = 3;
    stats.budgetExhausted = 1;

    const text = parseExposition(await metrics.text());
    const labels = { service: 'orders', route: 'api', direction: 'gateway' };
    expect(text.sum('trellis_requests_total', { ...labels, method: 'GET', status_class: '2xx' })).toBe(2);
    expect(text.sum('trellis_requests_total', { ...labels, method: 'POST', status_class: '5xx' })).toBe(1);
    expect(text.find('trellis_requests_total')).toHaveLength(2);

    const buckets = text.find('trellis_request_duration_seconds_bucket', labels);
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS_SECONDS.map(String), '+Inf']);
    expect(buckets[0].value).toBe(1);
    expect(text.sum('trellis_request_duration_seconds_bucket', { ...labels, le: '0.005' })).toBe(2);
    expect(text.sum('trellis_request_duration_seconds_bucket', { ...labels, le: '10' })).toBe(2);
    expect(text.sum('trellis_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(3);
    expect(text.sum('trellis_request_duration_seconds_count', labels)).toBe(3);
    expect(text.sum('trellis_request_duration_seconds_sum', labels)).toBeCloseTo(12.0034, 6);

    expect(text.sum('trellis_retries_total', labels)).toBe(2);
    expect(text.sum('trellis_upstream_connect_errors_total', labels)).toBe(3);
    expect(text.sum('trellis_retry_budget_exhausted_total', labels)).toBe(1);
    expect(text.sum('trellis_mesh_errors_total', { ...labels, code: 'UPSTREAM_CONNECT_FAILED' })).toBe(1);
    expect(text.types.get('trellis_request_duration_seconds')).toBe('histogram');
    expect(text.types.get('trellis_requests_total')).toBe('counter');
  });

  it('reads breaker state, ejections and endpoints by health from the clusters at scrape time', async () => {
    const now = 1_000_000;
    const endpoint = (port: number, health: HealthState, state: BreakerState | null, ejectedUntil = 0) => ({
      address: '127.0.0.1',
      port,
      health,
      ejectedUntil,
      breaker: state === null ? null : { state },
    });
    const clusters: ClusterView[] = [
      {
        name: 'orders',
        ejections: 4,
        endpoints: [
          endpoint(1, 'healthy', 'closed'),
          endpoint(2, 'healthy', 'open', now + 5),
          endpoint(3, 'degraded', 'half-open', now - 5),
          endpoint(4, 'unhealthy', null),
        ],
      },
    ];
    const metrics = createProxyMetrics({ clusters: () => clusters, now: () => now });
    const text = parseExposition(await metrics.text());
    const state = (port: number) =>
      text.find('trellis_circuit_breaker_state', { service: 'orders', endpoint: `127.0.0.1:${port}` });
    expect(state(1)[0].value).toBe(0);
    expect(state(2)[0].value).toBe(1);
    expect(state(3)[0].value).toBe(2);
    expect(state(4)).toHaveLength(0);
    expect(text.sum('trellis_outlier_ejections_total', { service: 'orders' })).toBe(4);
    expect(text.sum('trellis_endpoints_ejected', { service: 'orders' })).toBe(1);
    expect(text.sum('trellis_endpoints', { service: 'orders', health: 'healthy' })).toBe(2);
    expect(text.sum('trellis_endpoints', { service: 'orders', health: 'degraded' })).toBe(1);
    expect(text.sum('trellis_endpoints', { service: 'orders', health: 'unknown' })).toBe(0);
  });

  it('keeps metrics of its own, never in a global registry', async () => {
    const a = createProxyMetrics();
    const b = createProxyMetrics();
    a.listener('outbound').statsOf(cluster('orders'), null).record(0, 200, 1);
    expect(parseExposition(await a.text()).find('trellis_requests_total')).toHaveLength(1);
    expect(parseExposition(await b.text()).find('trellis_requests_total')).toHaveLength(0);
    expect(a.names).toContain(PROXY_METRICS.requests.name);
    expect(a.names).not.toContain('process_cpu_seconds_total');
    const withProcess = createProxyMetrics({ processMetrics: true });
    try {
      expect(withProcess.names).toContain('process_cpu_seconds_total');
      const text = parseExposition(await withProcess.text());
      expect(text.find('process_cpu_seconds_total')).toHaveLength(1);
      expect(text.find('trellis_requests_total')).toHaveLength(0);
    } finally {
      withProcess.close();
    }
    expect(globalRegister.getMetricsAsArray()).toHaveLength(0);
  });

  it('reports every family it names, each with HELP and TYPE even before any traffic', async () => {
    const metrics = createProxyMetrics();
    const families = await metrics.families();
    expect(families.map((family) => family.name)).toEqual(metrics.names);
    expect(metrics.names).toEqual(Object.values(PROXY_METRICS).map((metric) => metric.name));
    const text = await metrics.text();
    for (const metric of Object.values(PROXY_METRICS)) {
      expect(text).toContain(`# HELP ${metric.name} ${metric.help}\n# TYPE ${metric.name} `);
    }
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('combines gauges by their worst value and sums counters across workers', async () => {
    const view = (state: BreakerState, ejections: number): ClusterView[] => [
      {
        name: 'orders',
        ejections,
        endpoints: [
          { address: '127.0.0.1', port: 1, health: 'healthy', ejectedUntil: 0, breaker: { state } },
        ],
      },
    ];
    const closed = createProxyMetrics({ clusters: () => view('closed', 1) });
    const open = createProxyMetrics({ clusters: () => view('open', 2) });
    const both = parseExposition(
      renderFamilies(aggregateFamilies([await closed.families(), await open.families()])),
    );
    expect(both.sum('trellis_circuit_breaker_state', { service: 'orders' })).toBe(1);
    expect(both.sum('trellis_outlier_ejections_total', { service: 'orders' })).toBe(3);
    expect(both.sum('trellis_endpoints', { service: 'orders', health: 'healthy' })).toBe(1);
  });
});

describe('control metrics', () => {
  const options = () => ({
    watchSubscribers: () => 3,
    revision: () => 42,
    services: () => [{ name: 'orders', instances: { healthy: 2, degraded: 0, unhealthy: 1, unknown: 0 } }],
    processMetrics: false,
  });

  it('exposes subscribers, revision, instances and health checks by result', async () => {
    const healthChecks = new HealthCheckStats();
    healthChecks.record('http', 'pass');
    healthChecks.record('http', 'pass');
    healthChecks.record('tcp', 'fail');
    const metrics = createControlMetrics({ ...options(), healthChecks });
    const text = parseExposition(await metrics.text());
    expect(text.sum('trellis_watch_subscribers')).toBe(3);
    expect(text.sum('trellis_store_revision')).toBe(42);
    expect(text.sum('trellis_registered_instances', { service: 'orders', health: 'healthy' })).toBe(2);
    expect(text.sum('trellis_registered_instances', { service: 'orders', health: 'unhealthy' })).toBe(1);
    expect(text.sum('trellis_health_checks_total', { check: 'http', result: 'pass' })).toBe(2);
    expect(text.sum('trellis_health_checks_total', { check: 'tcp', result: 'fail' })).toBe(1);
    expect(text.sum('trellis_health_checks_total', { check: 'ttl', result: 'warn' })).toBe(0);
  });

  it('merges included proxy metrics into its exposition until they are taken out', async () => {
    const metrics = createControlMetrics(options());
    const proxy = createProxyMetrics();
    proxy.listener('outbound').statsOf(cluster('orders'), null).record(0, 200, 1);
    const detach = metrics.include(proxy);
    const merged = parseExposition(await metrics.text());
    expect(merged.sum('trellis_store_revision')).toBe(42);
    expect(merged.sum('trellis_requests_total', { service: 'orders', direction: 'outbound' })).toBe(1);
    detach();
    expect(parseExposition(await metrics.text()).find('trellis_requests_total')).toHaveLength(0);
  });

  it('refuses metrics whose names clash (a second set of process metrics)', async () => {
    const metrics = createControlMetrics({ ...options(), processMetrics: true });
    const proxy = createProxyMetrics({ processMetrics: true });
    try {
      expect(() => metrics.include(proxy)).toThrow(/process_cpu|nodejs_/);
      const other = createProxyMetrics();
      expect(() => metrics.include(other)).not.toThrow();
      // Once one proxy's families are in, another proxy's same names are refused too.
      expect(() => metrics.include(createProxyMetrics())).toThrow(/trellis_requests_total/);
      const text = parseExposition(await metrics.text());
      expect(text.find('process_cpu_seconds_total')).toHaveLength(1);
      expect(text.types.get('trellis_requests_total')).toBe('counter');
      expect(text.sum('trellis_store_revision')).toBe(42);
    } finally {
      proxy.close();
      metrics.close();
    }
  });
});
