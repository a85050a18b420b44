/**
 * The latencies a proxy feeds its balancer (ewma) and outlier detection are measured below the
 * millisecond: a loopback round trip takes a fraction of one, which a millisecond clock reads as
 * 0 or 1 ms, so endpoints 0.3 ms apart would look the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { closeAll, serviceRoute, startTestGateway } from '../helpers/proxy-harness.ts';
import { echo, instance, policy, request, startUpstream, type Upstream } from './proxy-helpers.ts';

describe('upstream latency', () => {
  let upstream: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    upstream = await startUpstream(echo('timed'));
    ({ proxy, gateway } = await startTestGateway({
      instances: [instance('timed', upstream.port)],
      routes: [serviceRoute('timed')],
      policies: [policy('timed', { loadBalancer: { kind: 'ewma' } })],
    }));
  });

  afterAll(() => closeAll(proxy, upstream));

  it('reaches the balancer with sub-millisecond resolution', async () => {
    const cluster = proxy.clusters.get('timed', true)!;
    const latencies: number[] = [];
    const recordSuccess = cluster.recordSuccess.bind(cluster);
    cluster.recordSuccess = (...args: Parameters<typeof recordSuccess>) => {
      latencies.push(args[1]);
      recordSuccess(...args);
    };
    for (let i = 0; i < 20; i++) expect((await request(gateway.port, 'GET', '/timed/x')).status).toBe(200);
    expect(latencies).toHaveLength(20);
    for (const latency of latencies) expect(latency).toBeGreaterThan(0);
    // A millisecond clock gives whole numbers only (mostly 0 on loopback).
    expect(latencies.filter((latency) => !Number.isInteger(latency)).length).toBeGreaterThanOrEqual(19);
  });
});
