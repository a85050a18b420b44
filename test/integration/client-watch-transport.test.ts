/**
 * The watch's connection handling against scripted SSE servers: the connect and idle timeouts, a
 * COMPACTED refusal, text split inside a UTF-8 character, and close() wherever the watch is. Over
 * both transports: node:http (the default) and the proxies' own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type MeshWatch, type TransportFactory, watchMesh } from '../../src/client/index.ts';
import type { MeshError, MeshSnapshot } from '../../src/core/index.ts';
import { createHttp1Transport } from '../../src/proxy/index.ts';
import { eventually } from '../helpers/control.ts';

const snapshot = (revision: number, services: string[] = []): MeshSnapshot => ({
  revision,
  services: services.map((name) => ({ name, tags: [], metadata: {}, createdAt: 1 })),
  instances: [],
  policies: [],
  routes: [],
});

const frame = (event: string, id: number, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

interface Scripted {
  url: string;
  requests: string[];
  /** Connections accepted and not yet closed. */
  open(): number;
}

const servers: Server[] = [];
const watches: MeshWatch[] = [];
afterEach(async () => {
  for (const watch of watches.splice(0)) await watch.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** One script per request, in order; requests past the last script get no answer. */
async function serve(scripts: Array<(req: IncomingMessage, res: ServerResponse) => void>): Promise<Scripted> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    scripts.shift()?.(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    open: () => sockets.size,
  };
}

function watchOver(
  transport: TransportFactory | undefined,
  url: string,
  options: Partial<Parameters<typeof watchMesh>[0]> = {},
) {
  const errors: MeshError[] = [];
  const created = watchMesh({
    url,
    transport,
    backoff: { baseMs: 5, capMs: 20 },
    onError: (error) => errors.push(error),
    ...options,
  });
  watches.push(created);
  return { watch: created, errors };
}

/** Polls every 10 ms until `probe` holds (the shared poller). */
async function until(probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  await eventually(probe, timeoutMs, 10);
}

const stream = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

const TRANSPORTS = [
  ['node:http', undefined],
  ['the proxy transport', createHttp1Transport],
] as const;

describe.each(TRANSPORTS)('watchMesh over %s', (_name, transport) => {
  const watch = (url: string, options: Partial<Parameters<typeof watchMesh>[0]> = {}) =>
    watchOver(transport, url, options);

  it('gives up on a reply head that does not come, and tries again', async () => {
    const server = await serve([]);
    const { errors } = watch(server.url, { connectTimeoutMs: 100 });
    await until(() => errors.length >= 2);
    expect(errors[0].code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(errors[0].message).toBe(`cannot reach the control plane at ${server.url}: no answer in time`);
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('drops a stream silent past the idle timeout and resumes after its revision', async () => {
    const server = await serve([
      (_req, res) => {
        stream(res);
        res.write(frame('snapshot', 3, snapshot(3)));
      },
      (_req, res) => {
        stream(res);
        res.write(': ping\n\n');
      },
    ]);
    const states: boolean[] = [];
    const { watch: w, errors } = watch(server.url, {
      idleTimeoutMs: 150,
      onState: (connected) => states.push(connected),
    });
    expect((await w.ready()).revision).toBe(3);
    await until(() => server.requests.length === 2);
    expect(server.requests).toEqual(['/api/v1/watch', '/api/v1/watch?revision=3']);
    expect(errors[0].code).toBe('CONTROL_PLANE_UNAVAILABLE');
    expect(errors[0].message).toMatch(/ETIMEDOUT: the stream was silent for 150 ms/);
    // The server has the second request before the client has read the reply that connects it.
    await until(() => states.length >= 3);
    expect(states.slice(0, 3)).toEqual([true, false, true]);
    // The silent connection was closed, not left open beside the new one.
    await until(() => server.open() === 1);
  });

  it('starts afresh after COMPACTED, and reads an error reply that is not JSON', async () => {
    const server = await serve([
      (_req, res) => {
        stream(res);
        res.end(frame('snapshot', 7, snapshot(7)));
      },
      (_req, res) => {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { code: 'COMPACTED', message: 'revision 7 is compacted', details: [] } }),
        );
      },
      (_req, res) => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('warming up');
      },
      (_req, res) => {
        stream(res);
        res.write(frame('snapshot', 40, snapshot(40)));
      },
    ]);
    const { watch: w, errors } = watch(server.url);
    await w.ready();
    await until(() => w.revision() === 40);
    expect(server.requests).toEqual([
      '/api/v1/watch',
      '/api/v1/watch?revision=7',
      '/api/v1/watch',
      '/api/v1/watch',
    ]);
    expect(errors.map((error) => error.code)).toEqual([
      'CONTROL_PLANE_UNAVAILABLE',
      'COMPACTED',
      'NOT_READY',
    ]);
    expect(errors[1].message).toBe('revision 7 is compacted');
    expect(errors[2].message).toBe(`GET ${server.url}/api/v1/watch answered HTTP 503: warming up`);
  });

  it('decodes UTF-8 split across writes, even inside a character', async () => {
    const text = frame('snapshot', 2, snapshot(2, ['café-ü-🌿']));
    const bytes = Buffer.from(text, 'utf8');
    const cut = bytes.indexOf(Buffer.from('🌿', 'utf8')) + 2;
    const server = await serve([
      (_req, res) => {
        stream(res);
        res.write(bytes.subarray(0, cut));
        setTimeout(() => res.write(bytes.subarray(cut)), 30);
      },
    ]);
    const { watch: w } = watch(server.url);
    expect((await w.ready()).services.map((service) => service.name)).toEqual(['café-ü-🌿']);
  });

  it('closes its connection on close(), while connecting and while streaming', async () => {
    const connecting = await serve([]);
    const first = watch(connecting.url).watch;
    await until(() => connecting.requests.length === 1);
    await first.close();
    await expect(first.ready()).rejects.toMatchObject({ code: 'CONTROL_PLANE_UNAVAILABLE' });
    await until(() => connecting.open() === 0);

    const streaming = await serve([
      (_req, res) => {
        stream(res);
        res.write(frame('snapshot', 1, snapshot(1)));
      },
    ]);
    const { watch: second, errors } = watch(streaming.url);
    await second.ready();
    expect(streaming.open()).toBe(1);
    await second.close();
    expect(second.connected()).toBe(false);
    await until(() => streaming.open() === 0);
    expect(errors).toEqual([]);
    expect(streaming.requests).toHaveLength(1);
  });
});
