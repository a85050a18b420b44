/**
 * The watch client's side of the protocol, against a scripted SSE server: resuming after the last
 * revision, replacing the view on a new snapshot, and surviving a malformed event.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchMesh } from '../../src/client/index.ts';
import type { Instance, MeshChange, MeshError, MeshSnapshot } from '../../src/core/index.ts';
import { eventually } from '../helpers/control.ts';

function instance(id: string): Instance {
  return {
    id,
    service: 'web',
    address: '127.0.0.1',
    port: 8080,
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: 1,
    healthChangedAt: 1,
  };
}

const frame = (event: string, id: number, data: unknown) =>
  `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

describe('watchMesh protocol handling', () => {
  let server: Server;
  let url: string;
  const requests: string[] = [];
  /** One script per connection, in order; each writes to the stream and may end it. */
  const scripts: Array<(res: ServerResponse) => void> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 1000\n\n: hello\n\n');
      const script = scripts.shift();
      if (script) script(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('resumes after its last revision, replaces its view on a snapshot and skips a malformed event', async () => {
    const first: MeshSnapshot = {
      revision: 5,
      services: [],
      instances: [instance('a')],
      policies: [],
      routes: [],
    };
    scripts.push(
      // 1: a snapshot, then the connection drops.
      (res) => res.end(frame('snapshot', 5, first)),
      // 2: resumed; one change, then garbage: the client must drop this stream and resume after 6.
      (res) => {
        const change: MeshChange = { type: 'instance.put', revision: 6, instance: instance('b') };
        res.write(frame('change', 6, change));
        res.write('id: 7\nevent: change\ndata: {not json\n\n');
      },
      // 3: the server decided the gap is too long and sends a snapshot: it replaces everything.
      (res) => res.write(frame('snapshot', 20, { revision: 20, services: [], instances: [instance('z')] })),
    );

    const errors: MeshError[] = [];
    const snapshots: number[] = [];
    const watch = watchMesh({
      url,
      backoff: { baseMs: 5, capMs: 20 },
      onError: (error) => errors.push(error),
      onSnapshot: (snapshot) => snapshots.push(snapshot.revision),
      // A listener that throws must not disturb the watch.
      onChange: () => {
        throw new Error('listener bug');
      },
    });
    try {
      expect((await watch.ready()).instances.map((each) => each.id)).toEqual(['a']);
      await eventually(() => watch.revision() === 20);
      expect(requests.slice(0, 3)).toEqual([
        '/api/v1/watch',
        '/api/v1/watch?revision=5',
        '/api/v1/watch?revision=6',
      ]);
      expect(
        errors.some((error) => error.code === 'INTERNAL' && /malformed change event/.test(error.message)),
      ).toBe(true);
      expect(snapshots).toEqual([5, 20]);
      expect(watch.view()!.instances.map((each) => each.id)).toEqual(['z']);
      expect(watch.connected()).toBe(true);
    } finally {
      await watch.close();
    }
  });

  it("names its store when it resumes, and takes another store's snapshot whole, revision up or down", async () => {
    const start = requests.length;
    const snapshot = (revision: number, storeId: string, ids: string[]): MeshSnapshot => ({
      revision,
      storeId,
      services: [],
      instances: ids.map(instance),
      policies: [],
      routes: [],
    });
    scripts.push(
      (res) => res.end(frame('snapshot', 5, snapshot(5, 'store-a', ['a', 'b']))),
      // Another store, already past revision 5.
      (res) => res.end(frame('snapshot', 9, snapshot(9, 'store/b', ['c']))),
      // Yet another, still below 9.
      (res) => res.end(frame('snapshot', 3, snapshot(3, 'store-c', ['d']))),
      (res) => res.write(': idle\n\n'),
    );
    const seen: string[][] = [];
    const watch = watchMesh({ url, backoff: { baseMs: 5, capMs: 20 } });
    watch.subscribe(() => seen.push(watch.view()!.instances.map((each) => each.id)));
    try {
      await eventually(() => requests.length === start + 4);
      expect(requests.slice(start)).toEqual([
        '/api/v1/watch',
        '/api/v1/watch?revision=5&store=store-a',
        '/api/v1/watch?revision=9&store=store%2Fb',
        '/api/v1/watch?revision=3&store=store-c',
      ]);
      // Each snapshot replaced the view, and subscribers saw the instances it no longer has go.
      expect(seen).toEqual([['a', 'b'], ['c'], ['d']]);
      expect(watch.instance('a')).toBeUndefined();
      expect(watch.revision()).toBe(3);
      expect(watch.storeId()).toBe('store-c');
      expect(watch.view()!.storeId).toBe('store-c');
    } finally {
      await watch.close();
    }
  });
});
