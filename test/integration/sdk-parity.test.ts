/**
 * Where `mesh.fetch` must behave as the proxy's engine does (src/proxy/engine/connection.ts and
 * h2-exchange.ts): an attempt ends with its response body, not its head; the idle timeout is not
 * retried; a policy change reaches calls already queued for a concurrency slot.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../src/config/index.ts';
import { isMeshError } from '../../src/core/index.ts';
import type { Mesh } from '../../src/index.ts';
import { eventually, type TestControl } from '../helpers/control.ts';
import { answerLate, type SdkTestMesh, startSdkMesh } from '../helpers/sdk-mesh.ts';

describe('SDK: parity with the proxy engine', () => {
  let sdk: SdkTestMesh;
  let node: TestControl;
  let mesh: Mesh;
  /** Responses the apps hold open (head sent, body not ended); ended after each test. */
  const held: ServerResponse[] = [];
  const hold = (_request: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part;');
    held.push(res);
  };
  const releaseHeld = () => {
    for (const res of held.splice(0)) res.end('rest');
  };

  beforeAll(async () => {
    sdk = await startSdkMesh();
    ({ node, mesh } = sdk);
  });

  afterAll(async () => {
    releaseHeld();
    await sdk?.close();
  });

  async function setPolicy(service: string, input: unknown): Promise<void> {
    const policy = resolvePolicy(service, input);
    await node.registry.setPolicy(service, policy);
    await eventually(() => JSON.stringify(mesh.policy(service)) === JSON.stringify(policy));
  }

  async function healthy(service: string, count: number): Promise<void> {
    await eventually(
      () => mesh.instances(service).filter((instance) => instance.health === 'healthy').length === count,
      10_000,
    );
  }

  it('applies the request timeout to the response body, as the proxy cuts a body past the deadline', async () => {
    const app = await sdk.instance('trickle', { handler: hold });
    await healthy('trickle', 1);
    await setPolicy('trickle', { timeout: { requestMs: '300ms', idleMs: 0 } });
    let upstreamClosed = false;
    const response = await mesh.fetch('trickle', '/');
    expect(response.status).toBe(200);
    held[0]?.on('close', () => {
      upstreamClosed = true;
    });
    const error = await response.text().catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('UPSTREAM_TIMEOUT');
    await eventually(() => upstreamClosed);
    expect(app.requests).toHaveLength(1);
    held.length = 0;
  }, 15_000);

  it('counts a response cut in its body as a failure of the endpoint, so the circuit opens', async () => {
    await sdk.instance('cut', {
      handler: (_request, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part of it', () => res.socket?.destroy());
      },
    });
    await healthy('cut', 1);
    await setPolicy('cut', {
      circuitBreaker: { consecutiveFailures: 2 },
      outlierDetection: { enabled: false },
      retry: { maxAttempts: 1 },
    });
    for (let i = 0; i < 2; i++) {
      const response = await mesh.fetch('cut', '/');
      expect(response.status).toBe(200);
      await expect(response.text()).rejects.toBeDefined();
    }
    const error = await mesh.fetch('cut', '/').catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('CIRCUIT_OPEN');
  });

  it('keeps a call in flight for least-connections until its body ends', async () => {
    const apps = [
      await sdk.instance('stream', { name: 'stream-1', handler: hold }),
      await sdk.instance('stream', { name: 'stream-2', handler: hold }),
    ];
    await healthy('stream', 2);
    await setPolicy('stream', { loadBalancer: { kind: 'least-connections' } });
    const responses = [];
    for (let i = 0; i < 10; i++) {
      responses.push(await mesh.fetch('stream', `/${i}`));
      // Every open call counts: the next one goes to the instance with fewer.
      const [a, b] = apps.map((app) => app.requests.length);
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1);
    }
    releaseHeld();
    for (const response of responses) expect(await response.text()).toBe('first part;rest');
  });

  it('does not retry an idle timeout (the proxy answers UPSTREAM_TIMEOUT at once)', async () => {
    const app = await sdk.instance('idle', { handler: answerLate(2_000) });
    await healthy('idle', 1);
    await setPolicy('idle', { timeout: { requestMs: '10s', idleMs: '200ms' }, retry: { maxAttempts: 3 } });
    const error = await mesh.fetch('idle', '/').catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('UPSTREAM_TIMEOUT');
    expect(app.requests).toHaveLength(1);
  });

  it('lets a queued call start when a policy change raises the concurrency limit', async () => {
    const app = await sdk.instance('gate', { handler: hold });
    await healthy('gate', 1);
    await setPolicy('gate', {
      concurrency: { maxInFlight: 1, maxPending: 4 },
      timeout: { requestMs: '20s' },
    });
    const first = mesh.fetch('gate', '/first');
    await eventually(() => app.requests.length === 1);
    const second = mesh.fetch('gate', '/second');
    // Rejected with OVERFLOW at close should the test fail before awaiting it.
    second.catch(() => {});
    await setPolicy('gate', {
      concurrency: { maxInFlight: 2, maxPending: 4 },
      timeout: { requestMs: '20s' },
    });
    // The first call is still held open: only the new limit lets the second one through.
    await eventually(() => app.requests.length === 2, 5_000);
    expect(app.requests.map((request) => request.url)).toEqual(['/first', '/second']);
    releaseHeld();
    expect(await (await first).text()).toBe('first part;rest');
    expect(await (await second).text()).toBe('first part;rest');
  });
});
