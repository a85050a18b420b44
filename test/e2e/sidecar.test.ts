/**
 * `trellis proxy` and `trellis gateway` as real processes beside a real `trellis start`: two apps, A
 * and B, each behind its own sidecar; A calls B through its outbound sidecar, which reaches B's
 * inbound sidecar. (The test process plays app A's client side: it sends what app A would send to its
 * sidecar.)
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlClient, createControlClient } from '../../src/client/index.ts';
import { freePort } from '../helpers/ports.ts';
import {
  childPids,
  cleanEnv,
  commandLine,
  eventually,
  kill,
  pidsConnectedTo,
  REPO_ROOT,
  type Running,
  send,
  sidecarArgs,
  spawnTrellis,
  startApp,
  type TestApp,
} from './sidecar-helpers.ts';

const TRELLIS_BIN = join(REPO_ROOT, 'bin/trellis.js');

interface Echo {
  app: string;
  method: string;
  url: string;
  body: string;
  headers: Record<string, string>;
}

const running: Running[] = [];
const apps: TestApp[] = [];

function trellis(args: string[], cwd: string): Running {
  const child = spawnTrellis(args, cwd);
  running.push(child);
  return child;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('trellis proxy: the sidecar', { timeout: 90_000 }, () => {
  let cwd: string;
  let controlPort: number;
  let controlUrl: string;
  let control: Running;
  let client: ControlClient;
  let appA: TestApp;
  let appB: TestApp;
  let sidecarA: Running;
  let sidecarB: Running;
  const ports = { aIn: 0, aOut: 0, bIn: 0, bOut: 0 };
  let idB: string;

  async function startControl(): Promise<Running> {
    const started = trellis(
      [
        'start',
        '--port',
        String(controlPort),
        '--data-dir',
        join(cwd, 'data'),
        '--no-gateway',
        '--log-level',
        'warn',
      ],
      cwd,
    );
    await started.waitFor(`listening on ${controlUrl}`);
    return started;
  }

  function sidecar(service: string, app: TestApp, inbound: number, outbound: number, extra: string[] = []) {
    return trellis(sidecarArgs(service, app.port, { inbound, outbound }, controlUrl, extra), cwd);
  }

  async function healthOf(id: string): Promise<string | undefined> {
    try {
      return (await client.getInstance(id)).health;
    } catch {
      return undefined;
    }
  }

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-sidecar-'));
    controlPort = await freePort();
    controlUrl = `http://127.0.0.1:${controlPort}`;
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    control = await startControl();
    client = createControlClient({ url: controlUrl });
    appA = await startApp('a');
    appB = await startApp('b');
    apps.push(appA, appB);
    sidecarA = sidecar('a', appA, ports.aIn, ports.aOut);
    sidecarB = sidecar('b', appB, ports.bIn, ports.bOut, [
      '--tag',
      'v1',
      '--zone',
      'z1',
      '--version',
      '1.2.0',
    ]);
    await Promise.all([sidecarA.waitFor('trellis sidecar for a'), sidecarB.waitFor('trellis sidecar for b')]);
    idB = `b-127.0.0.1-${ports.bIn}`;
  });

  afterAll(async () => {
    await Promise.all(running.map((child) => kill(child)));
    await Promise.all(apps.map((app) => app.stop()));
    await client?.close();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('registers the inbound listener as the instance, healthy by the check of the app', async () => {
    expect(sidecarB.output()).toContain(`instance: ${idB} (registered)`);
    const instance = await eventually(async () => {
      const found = await client.getInstance(idB);
      return found.health === 'healthy' && found;
    });
    expect(instance).toMatchObject({
      service: 'b',
      address: '127.0.0.1',
      port: ports.bIn,
      tags: ['v1'],
      zone: 'z1',
      version: '1.2.0',
      metadata: { 'trellis.sidecar': 'true', 'trellis.app': `127.0.0.1:${appB.port}` },
      check: { type: 'http', url: `http://127.0.0.1:${appB.port}/health`, intervalMs: 200 },
    });
    await eventually(async () => (await healthOf(`a-127.0.0.1-${ports.aIn}`)) === 'healthy');
  });

  it('runs as the process it was started as, relaunched with one V8 background thread (bin/relaunch.js)', () => {
    const argv = commandLine(sidecarA.pid);
    expect(argv.slice(0, 3)).toEqual([process.execPath, '--v8-pool-size=1', TRELLIS_BIN]);
    expect(argv.slice(3, 6)).toEqual(['proxy', '--service', 'a']);
    // The new program kept the standard streams: its banner came through them.
    expect(sidecarA.output()).toContain('trellis sidecar for a');
  });

  it("routes A's calls to B in all three addressing forms, method, body and query intact", async () => {
    const forms: { form: string; method: string; path: string; headers: Record<string, string> }[] = [
      { form: 'HTTP proxy', method: 'POST', path: 'http://b/items?x=1', headers: { host: 'b' } },
      { form: 'Host header', method: 'PUT', path: '/items?x=1', headers: { host: 'b' } },
      { form: 'Dapr invoke', method: 'PATCH', path: '/v1.0/invoke/b/method/items?x=1', headers: {} },
    ];
    // B's instance may reach A's view a moment after it turned healthy.
    await eventually(
      async () => (await send(ports.aOut, { path: '/', headers: { host: 'b' } })).status === 200,
    );
    for (const { form, method, path, headers } of forms) {
      const body = `from a by ${form}`;
      const reply = await send(ports.aOut, { method, path, headers, body });
      expect(reply.status, form).toBe(200);
      const echoed = JSON.parse(reply.body) as Echo;
      expect(echoed, form).toMatchObject({ app: 'b', method, url: '/items?x=1', body });
      // Two proxies on the way: A's outbound and B's inbound each append the client address.
      expect(echoed.headers['x-forwarded-for']?.split(',').length, form).toBe(2);
    }
  });

  it('the app going down makes the instance unhealthy; back up, healthy again', async () => {
    await appB.stop();
    await eventually(async () => (await healthOf(idB)) === 'unhealthy', 20_000);
    const reply = await send(ports.aOut, { path: '/items', headers: { host: 'b' } });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    await appB.start();
    await eventually(async () => (await healthOf(idB)) === 'healthy', 20_000);
    await eventually(
      async () => (await send(ports.aOut, { path: '/', headers: { host: 'b' } })).status === 200,
    );
  });

  it('`trellis gateway` routes by the routes of the control plane', async () => {
    const gatewayPort = await freePort();
    await client.createRoute({
      name: 'to-b',
      match: { path: { prefix: '/b' } },
      service: 'b',
      stripPrefix: true,
    });
    const gateway = trellis(
      ['gateway', '--port', String(gatewayPort), '--control', controlUrl, '--log-level', 'warn'],
      cwd,
    );
    await gateway.waitFor(`trellis gateway listening on http://127.0.0.1:${gatewayPort}`);
    const reply = await eventually(async () => {
      const answer = await send(gatewayPort, {
        method: 'POST',
        path: '/b/items?x=2',
        body: 'via the gateway',
      });
      return answer.status === 200 && answer;
    });
    expect(JSON.parse(reply.body)).toMatchObject({
      app: 'b',
      method: 'POST',
      url: '/items?x=2',
      body: 'via the gateway',
    });
    expect((await send(gatewayPort, { path: '/nowhere' })).headers['x-trellis-error']).toBe('NO_ROUTE');
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  });

  it('keeps routing while the control plane is away, and picks up changes once it is back', async () => {
    control.child.kill('SIGTERM');
    expect(await control.exited).toBe(0);
    for (let i = 0; i < 5; i++) {
      const reply = await send(ports.aOut, { path: `/during-outage/${i}`, headers: { host: 'b' } });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ app: 'b', url: `/during-outage/${i}` });
    }

    // A sidecar started while the control plane is away serves, and keeps trying to register.
    const appC = await startApp('c');
    apps.push(appC);
    const sidecarC = sidecar('c', appC, await freePort(), await freePort());
    await sidecarC.waitFor('trellis sidecar for c');
    expect(sidecarC.output()).toContain('registering once the control plane answers');
    await sidecarC.waitFor('cannot reach the control plane');

    control = await startControl();
    // C registers once the control plane is back, and A's sidecar learns of it from the watch.
    const reply = await eventually(async () => {
      const answer = await send(ports.aOut, { path: '/hello-c', headers: { host: 'c' } });
      return answer.status === 200 && answer;
    }, 30_000);
    expect(JSON.parse(reply.body)).toMatchObject({ app: 'c', url: '/hello-c' });
    expect((await send(ports.aOut, { path: '/', headers: { host: 'b' } })).status).toBe(200);
    sidecarC.child.kill('SIGINT');
    expect(await sidecarC.exited).toBe(0);
  });

  it('on SIGTERM deregisters first, finishes the request in flight, then exits 0', async () => {
    await eventually(async () => (await healthOf(idB)) === 'healthy', 20_000);
    const arrived = appB.nextSlow();
    let completed = false;
    const slow = send(ports.aOut, { path: '/slow?ms=3000', headers: { host: 'b' } }).finally(() => {
      completed = true;
    });
    await arrived;
    sidecarB.child.kill('SIGTERM');
    await eventually(
      async () => (await client.listInstances({ service: 'b' })).instances.length === 0,
      5_000,
      50,
    );
    // Gone from the registry while B's sidecar still finishes the request.
    expect(completed).toBe(false);
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ app: 'b', url: '/slow?ms=3000' });
    expect(await sidecarB.exited).toBe(0);
  });

  it('--workers 2: two worker processes proxy on the same ports, and stop on SIGTERM', async () => {
    const sidecarW = sidecar('b', appB, ports.bIn, ports.bOut, ['--workers', '2']);
    await sidecarW.waitFor('trellis sidecar for b');
    const workers = childPids(sidecarW.pid);
    expect(workers).toHaveLength(2);
    for (const worker of workers) expect(commandLine(worker)).toContain('--v8-pool-size=1');
    expect(sidecarW.output()).toContain(`workers:  ${workers[0]}, ${workers[1]}`);
    await eventually(async () => (await healthOf(idB)) === 'healthy', 20_000);

    // Each request on a connection of its own: the primary deals the connections out to the workers.
    const agents = Array.from({ length: 12 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    try {
      for (const [i, agent] of agents.entries()) {
        const reply = await send(ports.bIn, { path: `/items/${i}`, headers: { host: 'b' }, agent });
        expect(reply.status).toBe(200);
        expect(JSON.parse(reply.body)).toMatchObject({ app: 'b', url: `/items/${i}` });
      }
      // Both workers hold connections to the app: both proxied.
      expect(new Set(pidsConnectedTo(appB.port, workers)).size).toBe(2);
    } finally {
      for (const agent of agents) agent.destroy();
    }
    await eventually(
      async () => (await send(ports.aOut, { path: '/via-a', headers: { host: 'b' } })).status === 200,
    );

    // A crashed worker is replaced.
    process.kill(workers[0]!, 'SIGKILL');
    const replaced = await eventually(() => {
      const now = childPids(sidecarW.pid);
      return now.length === 2 && !now.includes(workers[0]!) && now;
    }, 20_000);
    await sidecarW.waitFor('proxy worker restarted', 20_000);
    for (let i = 0; i < 4; i++)
      expect((await send(ports.bIn, { path: `/after-crash/${i}`, headers: { host: 'b' } })).status).toBe(200);

    // Draining with a request in flight: a connection opened meanwhile is closed at once, not left
    // hanging until the process exits (a worker that unbinds first may send a connection back to the
    // primary, which then never hands it out).
    const arrived = appB.nextSlow();
    let slowDoneAt = 0;
    const slow = send(ports.bIn, { path: '/slow?ms=3000', headers: { host: 'b' } }).finally(() => {
      slowDoneAt = performance.now();
    });
    await arrived;
    sidecarW.child.kill('SIGTERM');
    // Connections opened every few milliseconds from the signal on, across the moment draining starts
    // (after the propagation delay): served, closed or refused, each ends long before the slow one.
    const probes: Promise<number>[] = [];
    const probingUntil = performance.now() + 1_500;
    for (let i = 0; performance.now() < probingUntil; i++) {
      probes.push(
        send(ports.bIn, { path: `/probe/${i}`, headers: { host: 'b' } }).then(
          () => performance.now(),
          () => performance.now(),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 4));
    }
    const probeEnds = await Promise.all(probes);
    expect((await slow).status).toBe(200);
    for (const end of probeEnds) expect(end).toBeLessThan(slowDoneAt);
    expect(await sidecarW.exited).toBe(0);
    expect([...workers, ...replaced].filter(alive)).toEqual([]);
    expect((await client.listInstances({ service: 'b' })).instances).toEqual([]);
  });

  it('gives back the heap a burst left once the traffic has gone quiet', async () => {
    const appC = await startApp('c');
    apps.push(appC);
    const inbound = await freePort();
    const sidecarC = sidecar('c', appC, inbound, await freePort(), [
      '--log-level',
      'debug',
      '--sample-ratio',
      '1',
    ]);
    await sidecarC.waitFor('trellis sidecar for c');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    for (let sent = 0; sent < 4_000; sent += 8) {
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => send(inbound, { path: `/burst/${sent + i}`, agent })),
      );
      expect(replies.every((reply) => reply.status === 200)).toBe(true);
    }
    agent.destroy();
    await sidecarC.waitFor('compacted the heap after a quiet spell', 20_000);
    const line = sidecarC
      .output()
      .split('\n')
      .find((text) => text.includes('compacted the heap after a quiet spell'))!;
    const { committedBefore, committedAfter } = JSON.parse(line) as Record<string, number>;
    expect(committedAfter).toBeLessThan(committedBefore);
    await kill(sidecarC);
  });

  it('left idle with its metrics on, wakes its event loop ~10 times a second, not ~100', async () => {
    const appD = await startApp('d');
    apps.push(appD);
    const metricsPort = await freePort();
    const sidecarD = trellis(
      [
        'proxy',
        '--service',
        'd',
        '--app',
        `127.0.0.1:${appD.port}`,
        '--inbound-port',
        String(await freePort()),
        '--outbound-port',
        String(await freePort()),
        '--control',
        controlUrl,
        '--metrics-port',
        String(metricsPort),
      ],
      cwd,
    );
    await sidecarD.waitFor('trellis sidecar for d');
    // Each time the main thread goes back to sleep in epoll_wait counts one voluntary switch.
    const wakes = () =>
      Number(
        /voluntary_ctxt_switches:\s+(\d+)/.exec(
          readFileSync(`/proc/${sidecarD.pid}/task/${sidecarD.pid}/status`, 'utf8'),
        )![1],
      );
    const before = wakes();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const perSecond = (wakes() - before) / 2;
    // The event-loop delay is sampled every 100 ms in a proxy (prom-client's 10 ms woke it ~100 times a second).
    expect(perSecond).toBeLessThan(40);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    // On prom-client's scale: a quiet loop reads ~10 ms, not the 100 ms between two samples.
    const p50 = Number(/^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(text)![1]);
    expect(p50).toBeGreaterThan(0.005);
    expect(p50).toBeLessThan(0.05);
    await kill(sidecarD);
  });

  it('registers the instance again when the registry loses it', async () => {
    const idA = `a-127.0.0.1-${ports.aIn}`;
    await client.deregisterInstance(idA);
    const back = await eventually(async () => (await client.listInstances({ service: 'a' })).instances[0]);
    expect(back).toMatchObject({ id: idA, port: ports.aIn, metadata: { 'trellis.sidecar': 'true' } });
  });

  it('A stops cleanly on SIGINT', async () => {
    sidecarA.child.kill('SIGINT');
    expect(await sidecarA.exited).toBe(0);
    expect((await client.listInstances({ service: 'a' })).instances).toEqual([]);
  });
});

describe('trellis proxy: bad flags', { timeout: 60_000 }, () => {
  function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [TRELLIS_BIN, ...args],
        { cwd: REPO_ROOT, env: cleanEnv(), timeout: 30_000 },
        (error, _stdout, stderr) => {
          if (error && typeof error.code !== 'number') reject(error);
          else resolve({ code: error ? (error.code as number) : 0, stderr });
        },
      );
    });
  }

  it('names the missing or bad flag and exits 1', async () => {
    const [noService, badApp, badWorkers, badName, bothChecks] = await Promise.all([
      run(['proxy', '--app', '127.0.0.1:8080']),
      run(['proxy', '--service', 'web', '--app', 'localhost']),
      run(['proxy', '--service', 'web', '--app', '127.0.0.1:8080', '--workers', '0']),
      run(['proxy', '--service', 'not a name', '--app', '127.0.0.1:8080', '--control', 'http://127.0.0.1:1']),
      run(['proxy', '--service', 'web', '--app', '127.0.0.1:8080', '--tcp-check', '--health-path', '/h']),
    ]);
    expect(noService.code).toBe(1);
    expect(noService.stderr).toContain("required option '--service <name>' not specified");
    expect(badApp.code).toBe(1);
    expect(badApp.stderr).toContain("'--app <host:port>' argument 'localhost' is invalid");
    expect(badWorkers.code).toBe(1);
    expect(badWorkers.stderr).toContain("'--workers <n>' argument '0' is invalid");
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('error: BAD_REQUEST: invalid sidecar options: service:');
    expect(bothChecks.code).toBe(1);
    expect(bothChecks.stderr).toContain('--tcp-check');
  });
});
