/**
 * The store id on the embedded store: created once, kept with the data (across close, reopen and
 * SIGKILL), new for a new data dir, and agreed on by registries that open the store together.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry } from '../../../src/registry/index.ts';
import { ensureStoreId } from '../../../src/registry/store-id.ts';
import { MemoryStore } from '../../../src/store/index.ts';
import { REPO_ROOT } from '../../helpers/processes.ts';

const logger = pino({ level: 'silent' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const dirs: string[] = [];

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-store-id-'));
  dirs.push(dir);
  return dir;
}

/** Opens the store in `dataDir` with a registry on it, reads the id, closes both. */
async function storeIdIn(dataDir: string): Promise<string> {
  const store = await MemoryStore.open({ dataDir, logger });
  const registry = await createRegistry({ store, logger });
  try {
    expect(registry.snapshot().storeId).toBe(registry.storeId());
    return registry.storeId();
  } finally {
    await registry.close();
    await store.close();
  }
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('store id (embedded store)', () => {
  it('is created once with the data: the same after reopening the dir, another for a new dir', async () => {
    const dir = await newDir();
    const first = await storeIdIn(dir);
    expect(first).toMatch(UUID);
    expect(await storeIdIn(dir)).toBe(first);

    const store = await MemoryStore.open({ dataDir: dir, logger });
    expect((await store.get('/trellis/store-id'))?.value).toBe(first);
    await store.close();

    const other = await storeIdIn(await newDir());
    expect(other).toMatch(UUID);
    expect(other).not.toBe(first);
  });

  it('survives a SIGKILL of the process that created it', async () => {
    const dir = await newDir();
    const created = await createAndKill(dir);
    expect(created).toMatch(UUID);
    expect(await storeIdIn(dir)).toBe(created);
  }, 30_000);

  it('is one id for registries opening one store at once, and is kept out of the mesh view', async () => {
    const store = await MemoryStore.open({ logger });
    const registries = await Promise.all([1, 2, 3].map(() => createRegistry({ store, logger })));
    const ids = new Set(registries.map((registry) => registry.storeId()));
    expect(ids.size).toBe(1);
    expect(await ensureStoreId(store, '/trellis/store-id')).toBe([...ids][0]);
    expect(registries[0].snapshot()).toMatchObject({ services: [], instances: [], policies: [], routes: [] });
    for (const registry of registries) await registry.close();
    await store.close();
  });

  it('lives in memory only for a store without a data dir', async () => {
    const ids = [];
    for (let i = 0; i < 2; i++) {
      const store = await MemoryStore.open({ logger });
      const registry = await createRegistry({ store, logger });
      ids.push(registry.storeId());
      await registry.close();
      await store.close();
    }
    expect(ids[0]).toMatch(UUID);
    expect(ids[1]).not.toBe(ids[0]);
  });
});

/** A child opens a registry on `dir`, prints its store id and waits; it is SIGKILLed once it has. */
async function createAndKill(dir: string): Promise<string> {
  const script = `
    import { MemoryStore } from './src/store/index.ts';
    import { createRegistry } from './src/registry/index.ts';
    import { pino } from 'pino';
    const logger = pino({ level: 'silent' });
    const store = await MemoryStore.open({ dataDir: ${JSON.stringify(dir)}, logger });
    const registry = await createRegistry({ store, logger });
    process.stdout.write(registry.storeId() + '\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = child.pid!;
  const closed = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('close', (_code, signal) => resolve(signal)),
  );
  let out = '';
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child printed no store id')), 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve(out.trim());
    });
  }).finally(() => process.kill(pid, 'SIGKILL'));
  expect(await closed).toBe('SIGKILL');
  return id;
}
