import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createControlClient, type MeshWatch, watchMesh } from '../../src/client/index.ts';
import {
  createProxy,
  createWatchSource,
  defaultServicePolicy,
  type MeshWatchLike,
} from '../../src/proxy/index.ts';
import { startTestControl, type TestControl } from '../helpers/control.ts';
import { echo, eventually, request, startUpstream, type Upstream } from './proxy-helpers.ts';

// The client's MeshWatch is what the watch source reads.
const _fits: (watch: MeshWatch) => MeshWatchLike = (watch) => watch;

describe('proxy fed by the control plane watch stream', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('follows registrations, and keeps serving its last view while the control plane is down', async () => {
    const node: TestControl = await startTestControl();
    let nodeUp = true;
    cleanup.push(async () => {
      if (nodeUp) await node.close();
    });
    const upstreams: Upstream[] = [await startUpstream(echo('one')), await startUpstream(echo('two'))];
    cleanup.push(async () => {
      for (const upstream of upstreams) await upstream.close();
    });
    const client = createControlClient({ url: node.url });
    cleanup.push(async () => client.close());
    await client.registerInstance({
      service: 'web',
      address: '127.0.0.1',
      port: upstreams[0].port,
      id: 'web-1',
    });

    const watch = watchMesh({ url: node.url, backoff: { baseMs: 20, capMs: 200 } });
    cleanup.push(() => watch.close());
    await watch.ready();
    const source = createWatchSource(watch, defaultServicePolicy, { pollMs: 20 });
    cleanup.push(async () => source.close());
    const proxy = createProxy({ source, logger: pino({ level: 'silent' }) });
    cleanup.push(() => proxy.close());
    const outbound = await proxy.outbound({ port: 0 });

    const who = async () => {
      const response = await request(outbound.port, 'GET', '/', { headers: { host: 'web' } });
      return response.status === 200
        ? (response.headers['x-upstream'] as string)
        : response.headers['x-trellis-error'];
    };
    expect(await who()).toBe('one');

    await client.registerInstance({
      service: 'web',
      address: '127.0.0.1',
      port: upstreams[1].port,
      id: 'web-2',
    });
    await client.deregisterInstance('web-1');
    await eventually(async () => (await who()) === 'two');
    for (let i = 0; i < 5; i++) expect(await who()).toBe('two');

    await node.close();
    nodeUp = false;
    for (let i = 0; i < 5; i++) expect(await who()).toBe('two');
  });
});
