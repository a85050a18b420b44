/**
 * A sidecar whose control plane is https://, signed by a CA that only NODE_EXTRA_CA_CERTS names.
 * A proxy's Node starts again without that variable (bin/relaunch.js: Node 20 parses the file at
 * start, 1.8 MiB a proxy that never verifies a peer would carry) and trusts the file's certificates
 * when its control link first connects (src/core/extra-ca-certs.ts): the sidecar must still reach its
 * control plane, and still refuse one that the named CA did not sign.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlClient, createControlClient } from '../../src/client/index.ts';
import { freePort } from '../helpers/ports.ts';
import { startTrellis, stopChild, type TrellisStart } from '../helpers/processes.ts';
import { makeTestCa, type TestCa } from '../helpers/test-ca.ts';
import {
  childPids,
  eventually,
  kill,
  type Running,
  send,
  spawnTrellis,
  startApp,
  type TestApp,
} from './sidecar-helpers.ts';

function environment(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(
    entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
}

describe('trellis proxy: NODE_EXTRA_CA_CERTS for an https:// control plane', { timeout: 60_000 }, () => {
  const running: Running[] = [];
  let cwd: string;
  let mesh: TestCa;
  let other: TestCa;
  let controlPort: number;
  let control: TrellisStart;
  let client: ControlClient;
  let terminator: Server;
  let httpsUrl: string;
  let app: TestApp;

  /** `workers`: with `--workers` (on free ports); `ipc`: spawned with an IPC channel (spawnTrellis). */
  async function sidecar(
    service: string,
    caFile: string,
    options: { workers?: number; ipc?: boolean } = {},
  ): Promise<Running> {
    // Workers share their listeners' ports through the primary, so those are chosen here.
    const ports =
      options.workers === undefined ? ['0', '0'] : [String(await freePort()), String(await freePort())];
    const started = spawnTrellis(
      [
        'proxy',
        '--service',
        service,
        '--app',
        `127.0.0.1:${app.port}`,
        '--inbound-port',
        ports[0]!,
        '--outbound-port',
        ports[1]!,
        '--control',
        httpsUrl,
        ...(options.workers === undefined ? [] : ['--workers', String(options.workers)]),
      ],
      cwd,
      { NODE_EXTRA_CA_CERTS: caFile },
      { ipc: options.ipc },
    );
    running.push(started);
    return started;
  }

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-extra-ca-'));
    mesh = makeTestCa(cwd, 'mesh');
    other = makeTestCa(cwd, 'other');
    control = await startTrellis(
      [
        '--port',
        String(await freePort()),
        '--data-dir',
        join(cwd, 'data'),
        '--no-gateway',
        '--log-level',
        'warn',
      ],
      { cwd },
    );
    controlPort = Number(new URL(control.controlUrl).port);
    client = createControlClient({ url: control.controlUrl });
    // TLS in front of the control plane, as a reverse proxy would terminate it, with the mesh CA's certificate.
    terminator = createTlsServer({ key: mesh.key, cert: mesh.cert }, (socket) => {
      const upstream = netConnect(controlPort, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    httpsUrl = `https://127.0.0.1:${(terminator.address() as { port: number }).port}`;
    app = await startApp('orders');
  });

  afterAll(async () => {
    await Promise.all(running.map((child) => kill(child)));
    if (control) await stopChild(control);
    await app?.stop();
    await client?.close();
    await new Promise((resolve) => terminator?.close(resolve));
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('starts without the variable and reaches the control plane the named CA signed', async () => {
    const proxy = await sidecar('orders', mesh.caFile);
    await proxy.waitFor('trellis sidecar for orders');
    const env = environment(proxy.pid);
    expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(env.TRELLIS_EXTRA_CA_CERTS).toBe(mesh.caFile);
    expect(proxy.output()).toContain(`control:  ${httpsUrl}`);
    const inbound = Number(/inbound: {2}127\.0\.0\.1:(\d+)/.exec(proxy.output())?.[1]);
    // Registered over TLS, and the watch stream (also over TLS) brings its own instance back to it.
    const instance = await eventually(async () => {
      const { instances } = await client.listInstances({ service: 'orders' });
      return instances.find((found) => found.port === inbound && found.health === 'healthy');
    });
    expect(instance).toMatchObject({ service: 'orders', address: '127.0.0.1' });
    await eventually(
      async () => (await send(inbound, { path: '/items', headers: { host: 'orders' } })).status === 200,
    );
  });

  it('starts its workers without the variable when its own process could not be relaunched', async () => {
    // With an IPC channel to its parent (as pm2 starts it) the main process keeps its environment.
    const proxy = await sidecar('payments', mesh.caFile, { workers: 2, ipc: true });
    await proxy.waitFor('trellis sidecar for payments');
    expect(environment(proxy.pid).NODE_EXTRA_CA_CERTS).toBe(mesh.caFile);
    const workers = childPids(proxy.pid);
    expect(workers).toHaveLength(2);
    for (const worker of workers) {
      const env = environment(worker);
      expect(env.NODE_EXTRA_CA_CERTS).toBeUndefined();
      expect(env.TRELLIS_EXTRA_CA_CERTS).toBe(mesh.caFile);
    }
    const inbound = Number(/inbound: {2}127\.0\.0\.1:(\d+)/.exec(proxy.output())?.[1]);
    await eventually(
      async () => (await send(inbound, { path: '/items', headers: { host: 'payments' } })).status === 200,
    );
  });

  it('still refuses a control plane that the named CA did not sign', async () => {
    const proxy = await sidecar('billing', other.caFile);
    await proxy.waitFor(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/, 15_000);
    const { instances } = await client.listInstances({ service: 'billing' });
    expect(instances).toEqual([]);
  });
});
