/**
 * A control plane that comes back on the same port with another store (an empty data dir): the
 * gateway data plane and a watch client that resume from the revision they had must end up with
 * exactly the new store's mesh, whether its revisions have passed theirs or not, while a cut link to
 * the same store still resumes without a snapshot.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MeshState, watchMesh as watchDashboard } from '../../dashboard/src/watch.ts';
import {
  type ControlClient,
  createControlClient,
  type MeshWatch,
  watchMesh,
} from '../../src/client/index.ts';
import type { MeshSnapshot } from '../../src/core/index.ts';
import { type DataPlane, startDataPlane } from '../../src/proxy/index.ts';
import { startTestControl, type TestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { startForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.ts';
import { echo, eventually, request, startUpstream, type Upstream } from './proxy-helpers.ts';

/** What a view holds, by name, sorted: comparable between a watch's view and the registry's. */
function contents(snapshot: MeshSnapshot | undefined) {
  const names = (items: { name?: string; id?: string; service?: string }[] | undefined) =>
    (items ?? []).map((item) => item.id ?? item.name ?? item.service ?? '').sort();
  return {
    services: names(snapshot?.services),
    instances: names(snapshot?.instances),
    policies: names(snapshot?.policies),
    routes: names(snapshot?.routes),
  };
}

/** The dashboard's view, as `contents` reads a snapshot. */
function dashboardContents(state: MeshState | undefined) {
  const keys = (map: Map<string, unknown> | undefined) => [...(map?.keys() ?? [])].sort();
  return {
    services: keys(state?.services),
    instances: keys(state?.instances),
    policies: keys(state?.policies),
    routes: keys(state?.routes),
  };
}

describe('watch: a control plane back on another store', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  let controlPort: number;
  let control: TestControl | undefined;
  let link: TcpForwarder;
  let upstreams: Upstream[];
  let client: ControlClient;
  let gateway: DataPlane;
  let gatewayPort: number;
  let watch: MeshWatch;
  let snapshots = 0;
  /** The dashboard's watch (dashboard/src/watch.ts), run in Node against the same link. */
  let dashboard: { close(): void; reconnect(): void };
  let dashboardState: MeshState | undefined;

  async function startControl(dataDir?: string): Promise<TestControl> {
    const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'trellis-watch-store-')));
    if (!dirs.includes(dir)) dirs.push(dir);
    control = await startTestControl({ control: { port: controlPort } }, { dataDir: dir });
    return control;
  }

  /** Cuts the link, so the clients keep their view, and stops the control plane. */
  async function stopControl(): Promise<string> {
    await link.down();
    const dir = control!.dataDir;
    await control!.close();
    control = undefined;
    return dir;
  }

  const register = (service: string, id: string, upstream: Upstream) =>
    client.registerInstance({ id, service, address: '127.0.0.1', port: upstream.port });
  const route = (service: string) =>
    client.createRoute({ name: service, service, match: { path: { prefix: `/${service}` } } });
  const fill = async (prefix: string, untilRevision: number) => {
    for (let i = 0; control!.registry.revision() <= untilRevision; i++) {
      await register('filler', `${prefix}-${i}`, upstreams[0]);
    }
  };
  const answerOf = async (path: string) => {
    const response = await request(gatewayPort, 'GET', path);
    return response.status === 200 ? String(response.headers['x-upstream']) : String(response.status);
  };
  /** Both clients are back at the control plane's revision. */
  const atRevision = () =>
    watch.connected() &&
    gateway.watch.connected() &&
    watch.revision() === control!.registry.revision() &&
    gateway.watch.revision() === control!.registry.revision();
  /** Both clients are back and hold exactly the control plane's mesh. */
  const caughtUp = () => {
    const current = contents(control!.registry.snapshot());
    return (
      watch.connected() &&
      gateway.watch.connected() &&
      watch.revision() === control!.registry.revision() &&
      gateway.watch.revision() === control!.registry.revision() &&
      JSON.stringify(contents(watch.view())) === JSON.stringify(current) &&
      JSON.stringify(contents(gateway.watch.view())) === JSON.stringify(current)
    );
  };

  beforeAll(async () => {
    controlPort = await freePort();
    upstreams = [await startUpstream(echo('old')), await startUpstream(echo('fresh'))];
    await startControl();
    link = await startForwarder(controlPort);
    client = createControlClient({ url: `http://127.0.0.1:${controlPort}` });
    const through = `http://127.0.0.1:${link.port}`;
    gatewayPort = await freePort();
    gateway = await startDataPlane({
      control: through,
      plan: {
        listeners: [{ kind: 'gateway', host: '127.0.0.1', port: gatewayPort }],
        drainTimeoutMs: 500,
        busyPollMs: 0,
      },
      logger: pino({ level: 'silent' }),
      backoff: { baseMs: 20, capMs: 200 },
    });
    watch = watchMesh({ url: through, backoff: { baseMs: 20, capMs: 200 }, onSnapshot: () => snapshots++ });
    dashboard = watchDashboard(
      { base: through, headers: () => ({}), unauthorized() {} },
      {
        onState: (state) => {
          dashboardState = state;
        },
        onStatus() {},
      },
    );
  });

  afterAll(async () => {
    dashboard?.close();
    await watch?.close();
    await gateway?.close();
    await client?.close();
    await link?.down();
    await control?.close();
    for (const upstream of upstreams ?? []) await upstream.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('resumes without a snapshot after a cut on the same store', async () => {
    await register('old', 'old-1', upstreams[0]);
    await route('old');
    await client.setPolicy('old', { timeout: { requestMs: 4000 } });
    await fill('old-filler', 12);
    await eventually(async () => caughtUp() && (await answerOf('/old/x')) === 'old');
    expect(snapshots).toBe(1);

    await link.down();
    await register('old', 'old-2', upstreams[0]);
    await link.up();
    await eventually(caughtUp, 10_000);
    expect(watch.instance('old-2')).toBeDefined();
    expect(snapshots).toBe(1);
  });

  it("replaces the view with the new store's when that store's revision has passed the clients'", async () => {
    const seen = watch.revision()!;
    // What a subscriber (the sidecar's re-registration check, a cluster manager) sees.
    let goneNoticed = false;
    const unsubscribe = watch.subscribe(() => {
      goneNoticed ||= watch.instance('old-1') === undefined;
    });
    await stopControl();
    await startControl();
    // Written at revisions the clients have already passed in the old store's history.
    await register('fresh', 'fresh-1', upstreams[1]);
    await route('fresh');
    // The old route's name again, on a service without instances in the new store.
    await route('old');
    expect(control!.registry.revision()).toBeLessThan(seen);
    await fill('new-filler', seen + 1);
    await link.up();

    await eventually(atRevision, 10_000);
    const current = contents(control!.registry.snapshot());
    expect(contents(watch.view())).toEqual(current);
    expect(contents(gateway.watch.view())).toEqual(current);
    expect(watch.instance('old-1')).toBeUndefined();
    expect(watch.instance('fresh-1')).toBeDefined();
    expect(watch.policy('old')).toBeUndefined();
    expect(goneNoticed).toBe(true);
    unsubscribe();
    // The gateway's clusters noticed too: no stale endpoint for `old`, and the new service answers.
    await eventually(
      async () => (await answerOf('/old/x')) === '503' && (await answerOf('/fresh/x')) === 'fresh',
    );
    expect(snapshots).toBe(2);
    await eventually(caughtUp);
    expect(watch.storeId()).toBe(control!.registry.storeId());
    expect(gateway.watch.storeId()).toBe(control!.registry.storeId());
    // The dashboard resumes with the store too (reconnected now rather than after its back-off).
    dashboard.reconnect();
    await eventually(() => dashboardState?.revision === control!.registry.revision(), 10_000);
    expect(dashboardContents(dashboardState)).toEqual(contents(control!.registry.snapshot()));
    expect(dashboardState?.storeId).toBe(control!.registry.storeId());
  });

  it("replaces the view with the new store's when that store's revision is below the clients'", async () => {
    const seen = watch.revision()!;
    const before = snapshots;
    await stopControl();
    await startControl();
    await register('fresh', 'fresh-2', upstreams[1]);
    expect(control!.registry.revision()).toBeLessThan(seen);
    await link.up();

    await eventually(caughtUp, 10_000);
    expect(watch.revision()).toBeLessThan(seen);
    expect(contents(watch.view()).instances).toEqual(['fresh-2']);
    await eventually(async () => (await answerOf('/fresh/x')) === '404');
    expect(snapshots).toBe(before + 1);
  });
});
