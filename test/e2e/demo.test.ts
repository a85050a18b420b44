/**
 * `trellis demo` as a user runs it: a child process that brings up the control plane, the gateway, five
 * services with sidecars and traffic; once it prints the dashboard address the services are registered
 * and traffic flows; SIGINT stops it and every process it started.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.ts';
import { type Child, spawnChild, stopChild, TRELLIS_BIN, waitForOutput } from '../helpers/processes.ts';
import { childPids, eventually } from './sidecar-helpers.ts';

const SERVICES = ['inventory', 'orders', 'payments', 'recommendations', 'web'];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('trellis demo', { timeout: 120_000 }, () => {
  let demo: Child | undefined;
  const started: number[] = [];

  afterAll(async () => {
    if (demo) await stopChild(demo, 'SIGKILL');
    for (const pid of started) {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('starts a living mesh, serves the dashboard, and stops everything on SIGINT', async () => {
    const [port, gatewayPort] = [await freePort(), await freePort()];
    demo = spawnChild([
      TRELLIS_BIN,
      'demo',
      ...['--port', String(port), '--gateway-port', String(gatewayPort), '--rate', '10', '--duration', '2m'],
    ]);
    const [, dashboard] = await waitForOutput(demo, /dashboard: (http:\/\/\S+)/, 90_000);
    expect(dashboard).toBe(`http://127.0.0.1:${port}/`);
    const [, pidList] = await waitForOutput(demo, /children: +([\d ]+)\n/);
    started.push(...pidList!.trim().split(/\s+/).map(Number));
    // Five apps and five sidecars, all children of the demo.
    expect(started).toHaveLength(10);
    expect(childPids(demo.pid).sort()).toEqual(expect.arrayContaining([...started].sort()));

    const html = await (await fetch(dashboard!)).text();
    expect(html).toContain('<div id="app">');
    const services = (await (await fetch(`${dashboard}api/v1/services`)).json()) as {
      services: { name: string; instances: { healthy: number } }[];
    };
    expect(services.services.map((service) => service.name)).toEqual(expect.arrayContaining(SERVICES));
    await eventually(async () => {
      const health = (await (await fetch(`${dashboard}api/v1/services`)).json()) as typeof services;
      return SERVICES.every((name) => health.services.find((s) => s.name === name)?.instances.healthy === 1);
    }, 30_000);

    // Traffic flows through the gateway and every hop of the mesh.
    const stats = await eventually(async () => {
      const answer = (await (await fetch(`${dashboard}api/v1/stats?window=1m`)).json()) as {
        mesh: { requests: number };
        services: Record<string, { requests: number }>;
      };
      return SERVICES.every((name) => (answer.services[name]?.requests ?? 0) > 0) && answer;
    }, 30_000);
    expect(stats.mesh.requests).toBeGreaterThan(0);
    await waitForOutput(demo, /traffic: \d+ requests/, 15_000);

    process.kill(demo.pid, 'SIGINT');
    await demo.exited;
    expect(demo.process.exitCode).toBe(0);
    expect(demo.output()).toContain('every process it started has exited');
    for (const pid of started) expect(alive(pid), `pid ${pid}`).toBe(false);
    await expect(fetch(dashboard!)).rejects.toThrow();
  });
});
