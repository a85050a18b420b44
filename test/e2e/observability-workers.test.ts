/**
 * `trellis gateway --workers 2 --metrics-port … --access-log …` as a real process beside a real
 * `trellis start`: the primary serves the metrics port with every worker's counters summed over IPC,
 * each worker sends its spans (service `gateway`) to the control plane and writes the access log.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../helpers/exposition.ts';
import { freePort } from '../helpers/ports.ts';
import { eventually, kill, type Running, send, spawnTrellis } from './sidecar-helpers.ts';

const running: Running[] = [];

describe('a gateway with workers: metrics of all of them, spans and access log from each', {
  timeout: 90_000,
}, () => {
  let cwd: string;
  let app: Server;
  let controlUrl: string;
  let gatewayPort: number;
  let metricsPort: number;
  let gateway: Running;
  let accessLogFile: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-observability-workers-'));
    accessLogFile = join(cwd, 'gateway-access.log');
    app = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(req.url === '/health' ? 'ok' : 'hello'));
    });
    const appPort = await new Promise<number>((resolve) =>
      app.listen(0, '127.0.0.1', () => resolve((app.address() as { port: number }).port)),
    );
    const controlPort = await freePort();
    gatewayPort = await freePort();
    metricsPort = await freePort();
    controlUrl = `http://127.0.0.1:${controlPort}`;
    await writeFile(
      join(cwd, 'trellis.json'),
      JSON.stringify({
        services: [
          {
            name: 'web',
            instances: [
              {
                address: '127.0.0.1',
                port: appPort,
                check: { http: `http://127.0.0.1:${appPort}/health`, interval: '500ms' },
              },
            ],
          },
        ],
        routes: [{ name: 'web', service: 'web', match: { path: { prefix: '/' } } }],
      }),
    );
    const control = spawnTrellis(
      [
        'start',
        '--port',
        String(controlPort),
        '--no-gateway',
        '--data-dir',
        join(cwd, 'data'),
        '--config',
        join(cwd, 'trellis.json'),
        '--log-level',
        'warn',
      ],
      cwd,
    );
    running.push(control);
    await control.waitFor('trellis control plane listening');
    gateway = spawnTrellis(
      [
        'gateway',
        '--port',
        String(gatewayPort),
        '--control',
        controlUrl,
        '--workers',
        '2',
        '--metrics-port',
        String(metricsPort),
        '--access-log',
        accessLogFile,
        '--sample-ratio',
        '1',
        '--log-level',
        'warn',
      ],
      cwd,
    );
    running.push(gateway);
    await gateway.waitFor('trellis gateway listening');
    await eventually(async () => (await send(gatewayPort, { path: '/warm' })).status === 200, 30_000);
  }, 60_000);

  afterAll(async () => {
    for (const child of running.reverse()) await kill(child);
    await new Promise((resolve) => app?.close(resolve));
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('serves the sum of every worker’s metrics on the primary’s metrics port', async () => {
    expect(gateway.output()).toContain(`metrics:  http://127.0.0.1:${metricsPort}/metrics`);
    const scrape = async () =>
      parseExposition(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    const labels = { service: 'web', direction: 'gateway', status_class: '2xx' };
    const before = (await scrape()).sum('trellis_requests_total', labels);
    // One connection per request: the primary hands connections to the workers in turn, so both
    // serve some of them and a sum that misses a worker falls short.
    const count = 12;
    for (let i = 0; i < count; i++) expect((await send(gatewayPort, { path: `/n/${i}` })).status).toBe(200);
    const after = await scrape();
    expect(after.sum('trellis_requests_total', labels) - before).toBe(count);
    expect(
      after.sum('trellis_request_duration_seconds_count', { service: 'web', direction: 'gateway' }),
    ).toBe(after.sum('trellis_requests_total', { service: 'web', direction: 'gateway' }));
    // Both workers' processes are in the sum (process metrics are summed too).
    expect(after.find('process_cpu_seconds_total').length).toBe(1);
  });

  it('sends spans from the workers to the control plane and logs each request', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const reply = await send(gatewayPort, {
      path: '/traced',
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    });
    expect(reply.status).toBe(200);
    const tree = await eventually(async () => {
      const response = await fetch(`${controlUrl}/api/v1/traces/${traceId}`);
      return response.ok
        ? ((await response.json()) as {
            spans: Array<{ service: string; parentSpanId: string; attributes: Record<string, unknown> }>;
          })
        : undefined;
    }, 15_000);
    expect(tree.spans).toHaveLength(1);
    expect(tree.spans[0]).toMatchObject({ service: 'gateway', parentSpanId: 'b7ad6b7169203331' });
    expect(tree.spans[0]!.attributes).toMatchObject({ 'peer.service': 'web', 'trellis.route': 'web' });

    const line = await eventually(async () => {
      const text = await readFile(accessLogFile, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((entry) => entry.includes(traceId))
        .map((entry) => JSON.parse(entry) as Record<string, unknown>)[0];
    }, 10_000);
    expect(line).toMatchObject({
      direction: 'gateway',
      path: '/traced',
      route: 'web',
      service: 'web',
      status: 200,
    });
  });
});
