/**
 * The control-plane client's transports against scripted servers: connection reuse, timeouts,
 * replies that are not ours, a kept-alive connection reset under us, and close(). Both transports
 * pass the same suite: the default over node:http, and the proxies' own over the data path's parser.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControlClientOptions, createControlClient as createClient } from '../../src/client/index.ts';
import { createHttp1Transport } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/control.ts';
import { rejection as failure } from '../helpers/mesh-error.ts';

interface Scripted {
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Connections accepted and not yet closed. */
  open(): number;
  close(): Promise<void>;
}

const servers: Array<Server | NetServer> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server | NetServer): Promise<Scripted> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    open: () => sockets.size,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Scripted> {
  return listen(createServer(handler));
}

/** Polls every 10 ms until `probe` holds (the shared poller). */
async function until(probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  await eventually(probe, timeoutMs, 10);
}

const TRANSPORTS = [
  ['node:http', undefined],
  ['the proxy transport', createHttp1Transport],
] as const;

describe.each(TRANSPORTS)('createControlClient over %s', (_name, transport) => {
  const createControlClient = (options: ControlClientOptions) => createClient({ ...options, transport });

  it('reuses one kept-alive connection, sends the token and a JSON body, and closes it on close()', async () => {
    const seen: Array<{ method: string; url: string; auth?: string; type?: string; body: string }> = [];
    const server = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.method === 'DELETE' ? '' : JSON.stringify({ services: [{ name: 'é' }], name: 'x' }));
      });
    });
    const client = createControlClient({ url: server.url, token: 'secret-token' });
    expect(await client.listServices()).toEqual([{ name: 'é' }]);
    await client.createService({ name: 'orders' });
    await client.deleteService('orders');
    expect(server.connections()).toBe(1);
    expect(seen.map((each) => `${each.method} ${each.url}`)).toEqual([
      'GET /api/v1/services',
      'POST /api/v1/services',
      'DELETE /api/v1/services/orders',
    ]);
    expect(seen.every((each) => each.auth === 'Bearer secret-token')).toBe(true);
    expect(seen[1]).toMatchObject({ type: 'application/json', body: '{"name":"orders"}' });
    expect(seen[0].type).toBeUndefined();

    await client.close();
    await until(() => server.open() === 0);
    const error = await failure(() => client.listServices());
    expect(error.code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(error.message).toMatch(/closed/);
  });

  it('times out a reply that never comes, and one that stops half-way', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/api/v1/routes') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"routes":[');
      }
      // Otherwise: no answer at all.
    });
    const client = createControlClient({ url: server.url, timeoutMs: 150 });
    for (const run of [() => client.listServices(), () => client.listRoutes()]) {
      const error = await failure(run);
      expect(error.code).toBe('CONTROL_PLANE_UNAVAILABLE');
      expect(error.message).toBe(`cannot reach the control plane at ${server.url}: no answer in time`);
    }
    // The timed-out connections were dropped, not left to the pool.
    await until(() => server.open() === 0);
    await client.close();
  });

  it('turns replies that are not ours into errors by status, keeping a snippet of the body', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/api/v1/services/gone') {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<h1>Not Found</h1>');
      } else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway\n');
      }
    });
    const client = createControlClient({ url: server.url });
    const notFound = await failure(() => client.getService('gone'));
    expect(notFound.code).toBe('NOT_FOUND');
    expect(notFound.message).toBe(
      `GET ${server.url}/api/v1/services/gone answered HTTP 404: <h1>Not Found</h1>`,
    );
    const badGateway = await failure(() => client.health());
    expect(badGateway.code).toBe('INTERNAL');
    expect(badGateway.message).toBe(`GET ${server.url}/api/v1/health answered HTTP 502: bad gateway`);
    expect(badGateway.details).toEqual([{ message: 'HTTP 502', status: 502 }]);
    await client.close();
  });

  it('sends an idempotent request again when its kept-alive connection was reset, but not a POST', async () => {
    // A raw server that answers the first request of each connection and resets the connection on
    // the second, as a server that closed an idle connection just as the client reused it.
    const server = createNetServer((socket) => {
      let requests = 0;
      let head = '';
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1');
        while (head.includes('\r\n\r\n')) {
          const end = head.indexOf('\r\n\r\n') + 4;
          const length = Number(/content-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
          if (head.length < end + length) return;
          head = head.slice(end + length);
          if (++requests === 2) {
            socket.resetAndDestroy();
            return;
          }
          socket.write(
            'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"services":[]}',
          );
        }
      });
    });
    const scripted = await listen(server);
    const client = createControlClient({ url: scripted.url });
    expect(await client.listServices()).toEqual([]);
    expect(await client.listServices()).toEqual([]);
    expect(scripted.connections()).toBe(2);

    const error = await failure(() => client.createService({ name: 'orders' }));
    expect(error.code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(error.message).toMatch(/ECONNRESET/);
    expect(scripted.connections()).toBe(2);
    await client.close();
  });

  it('lets a request in flight finish on close()', async () => {
    let answer: (() => void) | undefined;
    const server = await serve((_req, res) => {
      answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"services":[]}');
      };
    });
    const client = createControlClient({ url: server.url });
    const pending = client.listServices();
    await until(() => answer !== undefined);
    let closed = false;
    const closing = client.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    answer!();
    expect(await pending).toEqual([]);
    await closing;
    await until(() => server.open() === 0);
  });

  it('speaks TLS to an https:// URL', async () => {
    // A plain-http server: the TLS handshake fails, which shows the request went out over TLS.
    const server = await serve((_req, res) => res.end('{}'));
    const client = createControlClient({ url: server.url.replace('http:', 'https:'), timeoutMs: 2000 });
    const error = await failure(() => client.listServices());
    expect(error.code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(error.message).toMatch(/SSL|TLS|EPROTO|wrong version/i);
    await client.close();
  });
});
