/**
 * An instance in its own process, for tests that kill it: `node --import tsx counting-server.ts
 * <port> [name]`. Answers every request with its name, counts them, and serves two paths it does not
 * count: GET /healthz (for health checks) and GET /count (`{"count"}`, read directly, not through the
 * mesh). Prints one JSON line `{"port","pid"}` on stdout once it listens.
 */
import { createServer } from 'node:http';

const [portArg = '0', name = 'instance'] = process.argv.slice(2);
let count = 0;

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  if (req.url === '/count') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ count }));
    return;
  }
  count++;
  req.resume();
  req.on('end', () => {
    res.setHeader('x-instance', name);
    res.end(name);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(portArg), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid })}\n`);
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
