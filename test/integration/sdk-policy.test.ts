import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../src/config/index.ts';
import { DEADLINE_HEADER, isMeshError } from '../../src/core/index.ts';
import type { Mesh } from '../../src/index.ts';
import { eventually, type TestControl } from '../helpers/control.ts';
import { startDualUpstream } from '../helpers/dual-upstream.ts';
import { answerLate, type SdkTestMesh, startSdkMesh } from '../helpers/sdk-mesh.ts';
import type { App } from './sdk-apps.ts';

describe("SDK: the services' policies from the mesh, applied live", () => {
  let sdk: SdkTestMesh;
  let node: TestControl;
  let mesh: Mesh;
  const web: App[] = [];

  beforeAll(async () => {
    sdk = await startSdkMesh();
    ({ node, mesh } = sdk);
    for (const name of ['web-1', 'web-2', 'web-3']) web.push(await sdk.instance('web', { name }));
    await sdk.instance('slow', { handler: answerLate(2_000) });
    await eventually(
      () =>
        mesh.instances('web').filter((instance) => instance.health === 'healthy').length === 3 &&
        mesh.instances('slow')[0]?.health === 'healthy',
      10_000,
    );
  });

  afterAll(() => sdk?.close());

  async function setPolicy(service: string, input: unknown): Promise<void> {
    const policy = resolvePolicy(service, input);
    await node.registry.setPolicy(service, policy);
    await eventually(() => JSON.stringify(mesh.policy(service)) === JSON.stringify(policy));
  }

  it('balances round-robin over three instances when the policy says so', async () => {
    // Warm the cluster up on the default (ewma) first: the switch must happen in place.
    await (await mesh.fetch('web', '/warm')).text();
    await setPolicy('web', { loadBalancer: { kind: 'round-robin' } });
    const before = web.map((app) => app.requests.length);
    for (let i = 0; i < 90; i++) await (await mesh.fetch('web', `/rr/${i}`)).text();
    expect(web.map((app, index) => app.requests.length - before[index])).toEqual([30, 30, 30]);

    await node.registry.deletePolicy('web');
    await eventually(() => mesh.policy('web').loadBalancer.kind === 'ewma');
  });

  it("applies the policy's request timeout and sends it as the deadline", async () => {
    await setPolicy('web', { timeout: { requestMs: '4s' } });
    const before = Date.now();
    const seen = (await (await mesh.fetch('web', '/deadline')).json()) as { headers: Record<string, string> };
    const deadline = Number(seen.headers[DEADLINE_HEADER]);
    expect(deadline).toBeGreaterThanOrEqual(before + 4_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 4_000);

    await setPolicy('slow', { timeout: { requestMs: '250ms' } });
    const started = Date.now();
    const error = await mesh.fetch('slow', '/').catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1_800);
  });

  it('reaches a service over h2c when its policy says so, and back over HTTP/1.1', async () => {
    const dual = await startDualUpstream();
    const registration = await mesh.register({
      service: 'dual',
      port: dual.port,
      healthPath: '/health',
      checkInterval: '200ms',
    });
    try {
      await eventually(() => mesh.instances('dual')[0]?.health === 'healthy', 10_000);
      const call = async (init?: { method: string; body: string }) => {
        const response = await mesh.fetch('dual', '/p', init);
        await response.text();
        return [response.headers.get('x-proto'), response.headers.get('x-body')];
      };
      expect(await call()).toEqual(['h1', '']);

      await setPolicy('dual', { upstreamProtocol: 'h2c' });
      expect(await call()).toEqual(['h2', '']);
      expect(await call({ method: 'POST', body: 'over h2' })).toEqual(['h2', 'over h2']);
      // Concurrent calls share the endpoint's one session as streams.
      const many = await Promise.all(Array.from({ length: 10 }, () => call()));
      expect(many.every(([proto]) => proto === 'h2')).toBe(true);

      await setPolicy('dual', { upstreamProtocol: 'http1' });
      expect(await call({ method: 'POST', body: 'over h1' })).toEqual(['h1', 'over h1']);
    } finally {
      await registration.deregister();
      await dual.close();
    }
  });

  it('answers OVERFLOW at once when the concurrency limits are full', async () => {
    await setPolicy('slow', {
      concurrency: { maxInFlight: 1, maxPending: 0 },
      timeout: { requestMs: '10s' },
    });
    const first = mesh.fetch('slow', '/held');
    const started = Date.now();
    await expect(mesh.fetch('slow', '/second')).rejects.toMatchObject({ code: 'OVERFLOW', status: 503 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await (await first).text()).toBe('late');
    // The slot came back with the body.
    const again = mesh.fetch('slow', '/third');
    expect(await (await again).text()).toBe('late');
  });
});
