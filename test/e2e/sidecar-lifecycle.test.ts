/**
 * `trellis proxy` around the edges of its life, as real processes: shutting down while the app still
 * calls other services for a request in flight, and coming back to a control plane that restarted
 * with an empty store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlClient, createControlClient } from '../../src/client/index.ts';
import { freePort } from '../helpers/ports.ts';
import { startForwarder as startTcpForwarder } from '../helpers/tcp-forwarder.ts';
import {
  eventually,
  kill,
  type Running,
  send,
  sidecarArgs,
  spawnTrellis,
  startApp,
  type TestApp,
} from './sidecar-helpers.ts';

const running: Running[] = [];
const apps: TestApp[] = [];
const closers: (() => Promise<void>)[] = [];

function trellis(args: string[], cwd: string): Running {
  const child = spawnTrellis(args, cwd);
  running.push(child);
  return child;
}

async function startControl(cwd: string, port: number, dataDir: string): Promise<Running> {
  const control = trellis(
    [
      'start',
      '--port',
      String(port),
      '--data-dir',
      join(cwd, dataDir),
      '--no-gateway',
      '--log-level',
      'warn',
    ],
    cwd,
  );
  await control.waitFor(`listening on http://127.0.0.1:${port}`);
  return control;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/**
 * An app that, for `GET /checkout`, waits until `release()` and then calls `http://<callee>/items`
 * through its sidecar's outbound listener as an HTTP proxy (keep-alive, as HTTP clients do), and
 * answers with what it got: `{status, body}` or `{error}`.
 */
async function startCallingApp(callee: string, outboundPort: () => number) {
  const agent = new Agent({ keepAlive: true });
  let release!: () => void;
  let released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived: (() => void) | undefined;
  const server = createServer((req, res) => {
    if (req.url === '/health') {
      res.end('ok');
      return;
    }
    arrived?.();
    void released.then(() => {
      const call = httpRequest(
        {
          host: '127.0.0.1',
          port: outboundPort(),
          path: `http://${callee}/items`,
          headers: { host: callee },
          agent,
        },
        (reply) => {
          const chunks: Buffer[] = [];
          reply.on('data', (chunk: Buffer) => chunks.push(chunk));
          reply.on('end', () =>
            res.end(JSON.stringify({ status: reply.statusCode, body: Buffer.concat(chunks).toString() })),
          );
        },
      );
      call.on('error', (error) => res.end(JSON.stringify({ error: error.message })));
      call.end();
    });
  });
  await listen(server, 0);
  closers.push(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as { port: number }).port,
    /** Lets the requests waiting call the callee; later ones call at once. */
    release: () => release(),
    /** Makes later requests wait for the next `release()`. */
    hold() {
      released = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    nextArrival: () =>
      new Promise<void>((resolve) => {
        arrived = resolve;
      }),
  };
}

/** The shared forwarder, closed with the rest. */
async function startForwarder(target: number) {
  const forwarder = await startTcpForwarder(target);
  closers.push(forwarder.down);
  return forwarder;
}

afterAll(async () => {
  await Promise.all(running.map((child) => kill(child)));
  await Promise.all(apps.map((app) => app.stop()));
  for (const close of closers) await close();
});

describe('trellis proxy: shutting down while the app still calls out', { timeout: 60_000 }, () => {
  let cwd: string;
  let client: ControlClient;
  let controlUrl: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-sidecar-life-'));
    const controlPort = await freePort();
    controlUrl = `http://127.0.0.1:${controlPort}`;
    await startControl(cwd, controlPort, 'data');
    client = createControlClient({ url: controlUrl });
  });

  afterAll(async () => {
    await client?.close();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  function sidecar(service: string, appPort: number, inbound: number, outbound: number): Running {
    return trellis(sidecarArgs(service, appPort, { inbound, outbound }, controlUrl), cwd);
  }

  it("on SIGTERM the outbound listener serves the app's calls until the requests in flight are done", async () => {
    const orders = await startApp('orders');
    apps.push(orders);
    const ordersSidecar = sidecar('orders', orders.port, await freePort(), await freePort());
    const shopPorts = { inbound: await freePort(), outbound: await freePort() };
    const shop = await startCallingApp('orders', () => shopPorts.outbound);
    const shopSidecar = sidecar('shop', shop.port, shopPorts.inbound, shopPorts.outbound);
    await Promise.all([
      ordersSidecar.waitFor('trellis sidecar for orders'),
      shopSidecar.waitFor('trellis sidecar for shop'),
    ]);

    // Once orders is in shop's view, a checkout calls it (and leaves a keep-alive connection).
    shop.release();
    await eventually(async () => {
      const reply = await send(shopPorts.inbound, { path: '/checkout' });
      return reply.status === 200 && (JSON.parse(reply.body) as { status?: number }).status === 200;
    }, 20_000);

    // A checkout in flight when the sidecar is told to stop calls orders only once draining began.
    shop.hold();
    const arrived = shop.nextArrival();
    const checkout = send(shopPorts.inbound, { path: '/checkout' });
    await arrived;
    shopSidecar.child.kill('SIGTERM');
    await shopSidecar.waitFor('"msg":"draining"');
    shop.release();

    const reply = await checkout;
    expect(reply.status).toBe(200);
    const answer = JSON.parse(reply.body) as { status?: number; body?: string; error?: string };
    expect(answer.error).toBeUndefined();
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body!)).toMatchObject({ app: 'orders', url: '/items' });
    expect(await shopSidecar.exited).toBe(0);
    await kill(ordersSidecar);
  });
});

describe('trellis proxy: a control plane restarted with an empty store', { timeout: 90_000 }, () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-sidecar-restart-'));
  });

  afterAll(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('registers the instance again even when the new store has passed the revision the sidecar had', async () => {
    const controlPort = await freePort();
    const controlUrl = `http://127.0.0.1:${controlPort}`;
    const client = createControlClient({ url: controlUrl });
    closers.push(() => client.close());
    let control = await startControl(cwd, controlPort, 'first');
    // The sidecar reaches the control plane through a link the test can cut.
    const link = await startForwarder(controlPort);
    const app = await startApp('web');
    apps.push(app);
    const inbound = await freePort();
    const id = `web-127.0.0.1-${inbound}`;
    const sidecar = trellis(
      [
        'proxy',
        '--service',
        'web',
        '--app',
        `127.0.0.1:${app.port}`,
        '--inbound-port',
        String(inbound),
        '--outbound-port',
        String(await freePort()),
        '--control',
        `http://127.0.0.1:${link.port}`,
        '--check-interval',
        '200ms',
      ],
      cwd,
    );
    await sidecar.waitFor('trellis sidecar for web');
    await eventually(async () => (await client.getInstance(id).catch(() => undefined))?.health === 'healthy');
    const seen = (await client.snapshot()).revision;

    // Cut off, the sidecar keeps its view at `seen`; meanwhile the control plane restarts with an
    // empty store, whose history passes `seen` before the sidecar is back.
    await link.down();
    control.child.kill('SIGTERM');
    expect(await control.exited).toBe(0);
    control = await startControl(cwd, controlPort, 'second');
    for (let i = 0; (await client.snapshot()).revision <= seen + 1; i++) {
      await client.registerInstance({
        id: `filler-${i}`,
        service: 'filler',
        address: '127.0.0.1',
        port: 1 + i,
      });
    }
    expect((await client.listInstances({ service: 'web' })).instances).toEqual([]);
    await link.up();
    await sidecar.waitFor('control plane is back');

    const back = await eventually(
      async () => (await client.listInstances({ service: 'web' })).instances[0],
      20_000,
    );
    expect(back).toMatchObject({ id, port: inbound, metadata: { 'trellis.sidecar': 'true' } });
    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited).toBe(0);
    expect((await client.listInstances({ service: 'web' })).instances).toEqual([]);
  });
});
