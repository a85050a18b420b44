/** startSidecar() in this process, against a real control plane: the programmatic API of `trellis proxy`. */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient } from '../../src/client/index.ts';
import { startSidecar } from '../../src/proxy/index.ts';
import { eventually, startTestControl } from '../helpers/control.ts';
import { parseExposition } from '../helpers/exposition.ts';
import { freePort } from '../helpers/ports.ts';
import { echo, request, startUpstream } from './proxy-helpers.ts';

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('startSidecar', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('serves before the control plane answers, registers once it does, and deregisters on close', async () => {
    const app = await startUpstream(echo('app'));
    cleanup.push(() => app.close());
    const controlPort = await freePort();
    const control = `http://127.0.0.1:${controlPort}`;
    const sidecar = await startSidecar({
      service: 'api',
      app: `127.0.0.1:${app.port}`,
      control,
      inboundPort: 0,
      outboundPort: 0,
      checkInterval: '200ms',
      backoff: { baseMs: 20, capMs: 200 },
    });
    cleanup.push(() => sidecar.close());
    expect(sidecar.registered()).toBe(false);
    expect(sidecar.instanceId).toBe(`api-127.0.0.1-${sidecar.inbound.port}`);
    expect(sidecar.workerPids()).toEqual([]);
    // The inbound side needs no view of the mesh: it goes to the app.
    const direct = await request(sidecar.inbound.port, 'GET', '/direct');
    expect(direct.status).toBe(200);
    expect(direct.headers['x-upstream']).toBe('app');

    const node = await startTestControl({ control: { port: controlPort } });
    cleanup.push(() => node.close());
    const client = createControlClient({ url: control });
    cleanup.push(() => client.close());
    await eventually(() => sidecar.registered(), 10_000);
    expect(await client.getInstance(sidecar.instanceId)).toMatchObject({
      service: 'api',
      port: sidecar.inbound.port,
      check: { type: 'http', url: `http://127.0.0.1:${app.port}/health` },
    });
    // Through its own outbound side, the app reaches its service once the instance is healthy.
    await eventually(
      async () =>
        (await request(sidecar.outbound.port, 'GET', '/self', { headers: { host: 'api' } })).status === 200,
      10_000,
    );

    await sidecar.close();
    await sidecar.close();
    expect((await client.listInstances({ service: 'api' })).instances).toEqual([]);
    expect(await canListen(sidecar.inbound.port)).toBe(true);
    expect(await canListen(sidecar.outbound.port)).toBe(true);
  });

  it('fails at once, listening on nothing, when the control plane refuses the registration', async () => {
    const node = await startTestControl({ control: { adminToken: 'a-long-enough-admin-token' } });
    cleanup.push(() => node.close());
    const inboundPort = await freePort();
    await expect(
      startSidecar({
        service: 'api',
        app: '127.0.0.1:9',
        control: node.url,
        token: 'not-the-right-token',
        inboundPort,
        outboundPort: 0,
      }),
    ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await canListen(inboundPort)).toBe(true);
  });

  it('refuses bad options before listening, naming the field', async () => {
    await expect(
      startSidecar({ service: 'api', app: 'nowhere', control: 'http://127.0.0.1:1' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', details: [expect.objectContaining({ path: 'app' })] });
    await expect(
      startSidecar({ service: 'api', app: '127.0.0.1:1', control: 'http://127.0.0.1:1', busyPoll: '20ms' }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      details: [
        expect.objectContaining({ path: 'busyPoll', message: expect.stringContaining('at most 10ms') }),
      ],
    });
  });

  it("times the app's replies below the millisecond, as the gateway does", async () => {
    const app = await startUpstream(echo('app'));
    cleanup.push(() => app.close());
    const sidecar = await startSidecar({
      service: 'timed',
      app: `127.0.0.1:${app.port}`,
      control: `http://127.0.0.1:${await freePort()}`,
      inboundPort: 0,
      outboundPort: 0,
      metricsPort: 0,
      backoff: { baseMs: 1_000, capMs: 1_000 },
    });
    cleanup.push(() => sidecar.close());
    for (let i = 0; i < 20; i++) expect((await request(sidecar.inbound.port, 'GET', '/x')).status).toBe(200);
    const metrics = parseExposition(await (await fetch(sidecar.metricsUrl!)).text());
    const seconds = metrics.sum('trellis_request_duration_seconds_sum', { direction: 'inbound' });
    expect(seconds).toBeGreaterThan(0);
    // A millisecond clock (Date.now) times each loopback exchange as 0 or 1 ms: a whole sum.
    const ms = seconds * 1000;
    expect(Math.abs(ms - Math.round(ms))).toBeGreaterThan(1e-6);
  });
});
