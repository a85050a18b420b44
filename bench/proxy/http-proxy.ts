/** node-http-proxy (npm `http-proxy`) with a keep-alive agent, as in shared/reference/proxy-bench. */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { onShutdown, proxyArgs } from './cli.ts';

const { port, upstream } = proxyArgs();
const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({
  target: `http://${upstream.host}:${upstream.port}`,
  agent,
  xfwd: false,
});
proxy.on('error', (_error, _request, response) => {
  if ('writeHead' in response && !response.headersSent) {
    response.writeHead(502);
    response.end('bad gateway');
  } else {
    response.destroy();
  }
});
const server = createServer((request, response) => proxy.web(request, response));
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
onShutdown(() => {
  server.close();
  agent.destroy();
});
