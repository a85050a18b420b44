/** Fastify 5 + @fastify/http-proxy (@fastify/reply-from over undici), as in shared/reference/proxy-bench. */
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { onShutdown, proxyArgs } from './cli.ts';

const { port, upstream } = proxyArgs();
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(proxy, {
  upstream: `http://${upstream.host}:${upstream.port}`,
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
});
await app.listen({ port, host: '127.0.0.1' });
onShutdown(() => app.close());
