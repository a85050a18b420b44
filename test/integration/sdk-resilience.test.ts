import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMeshError } from '../../src/core/index.ts';
import { connect, type Mesh } from '../../src/index.ts';
import { eventually, startTestControl, type TestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { type App, startApp } from './sdk-apps.ts';

/** Debug logs of the SDK, to see the retries it made. */
const logs: Array<Record<string, unknown>> = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });

describe('SDK: breakers and retries through real sockets', () => {
  let node: TestControl;
  let mesh: Mesh;
  const cleanup: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    node = await startTestControl();
    cleanup.push(() => node.close());
    mesh = await connect({ control: node.url, logger });
    cleanup.push(() => mesh.close());
  });

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  async function app(name: string, handler?: Parameters<typeof startApp>[1]): Promise<App> {
    const started = await startApp(name, handler);
    cleanup.push(() => started.close());
    return started;
  }

  async function healthy(service: string, count: number): Promise<void> {
    await eventually(
      () => mesh.instances(service).filter((instance) => instance.health === 'healthy').length === count,
      10_000,
    );
  }

  it('opens the circuit after consecutive failures and then fails fast with CIRCUIT_OPEN', async () => {
    const broken = await app('broken', (_request, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    await mesh.register({
      service: 'broken',
      port: broken.port,
      healthPath: '/health',
      checkInterval: '200ms',
    });
    await healthy('broken', 1);

    // 500 is not retried by the default policy; the caller gets each one.
    for (let i = 0; i < 5; i++) {
      const response = await mesh.fetch('broken', '/');
      expect(response.status).toBe(500);
      expect(await response.text()).toBe('boom');
    }
    const started = Date.now();
    const error = await mesh.fetch('broken', '/').catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('CIRCUIT_OPEN');
    expect(isMeshError(error) && error.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(broken.requests).toHaveLength(5);
  });

  it('moves a retry to another instance when one is dead', async () => {
    const alive = [await app('pay-1'), await app('pay-2')];
    for (const running of alive) {
      await mesh.register({
        service: 'pay',
        port: running.port,
        healthPath: '/health',
        checkInterval: '200ms',
      });
    }
    // Nothing listens on this port, but heartbeats keep the instance healthy in the registry.
    const deadPort = await freePort();
    await mesh.register({ service: 'pay', port: deadPort, id: 'pay-dead', ttl: '5s' });
    await healthy('pay', 3);

    for (let i = 0; i < 30; i++) {
      const response = await mesh.fetch('pay', `/charge/${i}`, { method: i % 2 === 0 ? 'GET' : 'DELETE' });
      expect(response.status).toBe(200);
      await response.text();
    }
    expect(alive[0].requests.length + alive[1].requests.length).toBe(30);
    // The dead instance was tried, and each time the call moved on to a live one.
    const retries = logs.filter((log) => log.msg === 'mesh sdk: retrying' && log.service === 'pay');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((log) => log.endpoint === 'pay-dead' && log.outcome === 'connect-failure')).toBe(
      true,
    );

    // A POST with a string body is buffered, so it may be retried too.
    for (let i = 0; i < 10; i++) {
      const response = await mesh.fetch('pay', '/charge', { method: 'POST', body: `payment ${i}` });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { body: string }).body).toBe(`payment ${i}`);
    }
  });

  it('retries a POST with a string body, but not one with a stream body', async () => {
    let hits = 0;
    // Every other request is refused with 503, which the default policy retries.
    const flaky = await app('flaky', (request, res, self) => {
      hits++;
      res.statusCode = hits % 2 === 1 ? 503 : 200;
      res.end(JSON.stringify({ app: self.name, body: request.body, hit: hits }));
    });
    await mesh.register({
      service: 'flaky',
      port: flaky.port,
      healthPath: '/health',
      checkInterval: '200ms',
    });
    await healthy('flaky', 1);

    const retried = await mesh.fetch('flaky', '/orders', { method: 'POST', body: 'order-1' });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ body: 'order-1', hit: 2 });
    expect(flaky.requests.map((request) => request.body)).toEqual(['order-1', 'order-1']);

    const streamed = await mesh.fetch('flaky', '/orders', {
      method: 'POST',
      body: Readable.from([Buffer.from('order-'), Buffer.from('2')]),
    });
    expect(streamed.status).toBe(503);
    expect(await streamed.json()).toMatchObject({ body: 'order-2', hit: 3 });
    expect(flaky.requests).toHaveLength(3);

    // Even an idempotent method is not retried when its body is a stream: it cannot be sent twice.
    const put = await mesh.fetch('flaky', '/orders/3', {
      method: 'PUT',
      body: Readable.from([Buffer.from('order-3')]),
    });
    expect(put.status).toBe(200);
    await put.text();
    const again = await mesh.fetch('flaky', '/orders/4', {
      method: 'PUT',
      body: Readable.from([Buffer.from('order-4')]),
    });
    expect(again.status).toBe(503);
    await again.text();
    expect(flaky.requests).toHaveLength(5);
  });

  it('fails with UPSTREAM_CONNECT_FAILED when every attempt finds nothing listening', async () => {
    const deadPort = await freePort();
    await mesh.register({ service: 'gone', port: deadPort, ttl: '5s' });
    await healthy('gone', 1);
    const error = await mesh.fetch('gone', '/').catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('UPSTREAM_CONNECT_FAILED');
    expect(isMeshError(error) && error.details).toHaveLength(2);
  });
});
