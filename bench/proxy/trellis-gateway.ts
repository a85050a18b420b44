/**
 * Trellis's gateway for the proxy benchmark: one route `/` → service `bench`, whose one endpoint is
 * the benchmark's upstream, from a static source (no control plane), with the default service
 * policy (balancer, breaker, outlier detection, retries and timeouts as a user gets them).
 * Usage: node --import tsx bench/proxy/trellis-gateway.ts --port P --upstream HOST:PORT
 */
import { pino } from 'pino';
import type { Instance, Route } from '../../src/core/index.ts';
import { createProxy, createStaticSource } from '../../src/proxy/index.ts';
import { onShutdown, proxyArgs } from './cli.ts';

const { port, upstream } = proxyArgs();
const now = Date.now();
const instance: Instance = {
  id: 'bench-1',
  service: 'bench',
  address: upstream.host,
  port: upstream.port,
  tags: [],
  metadata: {},
  weight: 1,
  health: 'healthy',
  registeredAt: now,
  healthChangedAt: now,
};
const route: Route = {
  name: 'bench',
  priority: 0,
  match: { path: { prefix: '/' } },
  service: 'bench',
  stripPrefix: false,
  createdAt: now,
};
const proxy = createProxy({
  source: createStaticSource({ instances: [instance], routes: [route] }),
  logger: pino({ level: 'warn' }),
});
await proxy.gateway({ port, host: '127.0.0.1' });
onShutdown(() => proxy.close());
