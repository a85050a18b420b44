/**
 * Chaos through the gateway of a real `trellis start`: steady load to three instances, each in its own
 * process; one is killed with SIGKILL and later restarted on the same port. No request may fail
 * (connect failures and resets are retried on another instance), the killed instance must leave
 * rotation within one second, and it must receive requests again soon after it is back.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually } from '../helpers/control.ts';
import {
  type CountingInstance,
  countOf,
  startCountingInstance,
  startTrellis,
  stopChild,
  type TrellisStart,
} from '../helpers/processes.ts';

const RATE_PER_SECOND = 200;
const LOAD_MS = 8_000;
const KILL_AT_MS = 1_500;
const RESTART_AT_MS = 3_500;
const CONNECTIONS = 16;
/** The bound: the killed instance is out of rotation within one second. */
const OUT_OF_ROTATION_WITHIN_MS = 1_000;

interface EndpointView {
  port: number;
  health: string;
  breaker: string;
  ejected: boolean;
  inRotation: boolean;
  requests: number;
  failures: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('chaos: an instance killed and restarted under load through the gateway', {
  timeout: 120_000,
}, () => {
  let dir: string;
  let trellis: TrellisStart | undefined;
  const instances: CountingInstance[] = [];

  async function endpointOf(port: number): Promise<EndpointView | undefined> {
    const view = await call(trellis!.controlUrl, 'GET', '/api/v1/proxy/clusters/chaos');
    return (view.body.endpoints as EndpointView[] | undefined)?.find((endpoint) => endpoint.port === port);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-chaos-'));
    for (let i = 0; i < 3; i++) instances.push(await startCountingInstance(0, `i${i}`));
    const config = join(dir, 'trellis.yaml');
    await writeFile(
      config,
      JSON.stringify({
        control: { dataDir: join(dir, 'data') },
        services: [
          {
            name: 'chaos',
            check: { http: '/healthz', interval: '200ms', timeout: '500ms', failuresBeforeUnhealthy: 2 },
            instances: instances.map((instance, i) => ({
              id: `chaos-${i}`,
              address: '127.0.0.1',
              port: instance.port,
            })),
            // Default breaker (60 s recovery) and a long outlier ejection on purpose: the restarted
            // instance must come back because its active health check passes (which un-ejects it and
            // resets its breaker), not because a timer ran out. Retries stay at the defaults.
            policy: {
              outlierDetection: { consecutiveErrors: 3, baseEjectionTimeMs: '30s' },
            },
          },
        ],
        routes: [
          { name: 'chaos', service: 'chaos', match: { path: { prefix: '/chaos' } }, stripPrefix: true },
        ],
      }),
    );
    trellis = await startTrellis(
      ['--config', config, '--port', '0', '--gateway-port', '0', '--log-level', 'warn'],
      { cwd: dir },
    );
    await eventually(
      async () => {
        const listed = await call(trellis!.controlUrl, 'GET', '/api/v1/instances?service=chaos');
        const healthy = (listed.body.instances as { health: string }[]).filter((i) => i.health === 'healthy');
        return healthy.length === 3;
      },
      20_000,
      100,
    );
  });

  afterAll(async () => {
    if (trellis) await stopChild(trellis, 'SIGTERM');
    for (const instance of instances) await stopChild(instance, 'SIGTERM');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fails no request, takes the killed instance out within 1 s, and sends it traffic again', async () => {
    const pool = new Pool(trellis!.gatewayUrl!, { connections: CONNECTIONS });
    const failures: string[] = [];
    const servedBy: Record<string, number> = {};
    let sent = 0;
    let succeeded = 0;
    let loadRunning = true;

    async function one(): Promise<void> {
      try {
        const res = await pool.request({ path: '/chaos/work', method: 'GET' });
        const text = await res.body.text();
        if (res.statusCode === 200 && /^i\d$/.test(text)) {
          succeeded++;
          servedBy[text] = (servedBy[text] ?? 0) + 1;
        } else {
          failures.push(
            `${res.statusCode} ${String(res.headers['x-trellis-error'] ?? '')} ${text.slice(0, 200)}`,
          );
        }
      } catch (error) {
        failures.push(`client error: ${(error as Error).message}`);
      }
    }

    async function load(): Promise<void> {
      const started = performance.now();
      const inFlight = new Set<Promise<void>>();
      for (;;) {
        const elapsed = performance.now() - started;
        if (elapsed >= LOAD_MS) break;
        const due = Math.floor((elapsed * RATE_PER_SECOND) / 1000);
        while (sent < due) {
          sent++;
          const request = one();
          inFlight.add(request);
          void request.finally(() => inFlight.delete(request));
        }
        await sleep(5);
      }
      loadRunning = false;
      await Promise.all(inFlight);
    }

    const victimIndex = 1;
    const victim = instances[victimIndex]!;
    let outOfRotationMs: number | undefined;
    let backAfterMs: number | undefined;
    let servedBeforeKill = 0;
    let viewAfterReturn: EndpointView | undefined;

    async function chaos(): Promise<void> {
      await sleep(KILL_AT_MS);
      servedBeforeKill = await countOf(victim);
      process.kill(victim.pid, 'SIGKILL');
      const killedAt = performance.now();
      await eventually(
        async () => {
          const endpoint = await endpointOf(victim.port);
          if (endpoint !== undefined && !endpoint.inRotation) outOfRotationMs = performance.now() - killedAt;
          return outOfRotationMs !== undefined;
        },
        5_000,
        20,
      );
      await victim.exited;

      await sleep(Math.max(0, RESTART_AT_MS - KILL_AT_MS - (performance.now() - killedAt)));
      const restarted = await startCountingInstance(victim.port, `i${victimIndex}`);
      instances[victimIndex] = restarted;
      const restartedAt = performance.now();
      await eventually(
        async () => {
          if ((await countOf(restarted)) > 0) backAfterMs = performance.now() - restartedAt;
          return backAfterMs !== undefined || !loadRunning;
        },
        LOAD_MS,
        50,
      );
      viewAfterReturn = await endpointOf(victim.port);
    }

    try {
      await Promise.all([load(), chaos()]);
    } finally {
      await pool.close();
    }

    expect(failures).toEqual([]);
    expect(succeeded).toBe(sent);
    expect(sent).toBeGreaterThanOrEqual((RATE_PER_SECOND * LOAD_MS) / 1000 - RATE_PER_SECOND / 10);
    // Traffic reached the victim before the kill and all three instances served.
    expect(servedBeforeKill).toBeGreaterThan(0);
    expect(Object.keys(servedBy).sort()).toEqual(['i0', 'i1', 'i2']);

    expect(outOfRotationMs).toBeDefined();
    expect(outOfRotationMs!).toBeLessThan(OUT_OF_ROTATION_WITHIN_MS);

    // Back: its own counter rose while the load still ran, and the proxy has it in rotation again.
    expect(backAfterMs).toBeDefined();
    expect(viewAfterReturn).toMatchObject({ health: 'healthy', inRotation: true });
    expect(await countOf(instances[victimIndex]!)).toBeGreaterThan(0);
  });
});
