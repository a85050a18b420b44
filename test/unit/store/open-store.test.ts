import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdStore, MemoryStore, openStore } from '../../../src/store/index.ts';
import { type EtcdProcess, startEtcd } from '../../helpers/etcd.ts';

const logger = pino({ level: 'silent' });
let etcd: EtcdProcess;
let dataDir: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dataDir = await mkdtemp(join(tmpdir(), 'trellis-open-'));
});

afterAll(async () => {
  await etcd?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('openStore', () => {
  it('opens the embedded store for "memory"', async () => {
    const store = await openStore('memory', { dataDir, logger });
    expect(store).toBeInstanceOf(MemoryStore);
    expect(store.kind).toBe('memory');
    await store.put('k', 'v');
    await store.close();
    const again = await openStore('memory', { dataDir, logger });
    expect((await again.get('k'))?.value).toBe('v');
    await again.close();
  });

  it('connects to etcd, with an optional key prefix from the path', async () => {
    const [endpoint] = etcd.endpoints;
    const plain = await openStore(`etcd://${endpoint}`, { dataDir, logger });
    const scoped = await openStore(`etcd://${endpoint}/mesh-a`, { dataDir, logger });
    expect(plain).toBeInstanceOf(EtcdStore);
    await scoped.put('k', 'scoped');
    expect((await scoped.get('k'))?.value).toBe('scoped');
    expect((await plain.get('mesh-a/k'))?.value).toBe('scoped');
    expect((await scoped.list('')).items.map((kv) => kv.key)).toEqual(['k']);
    await plain.close();
    await scoped.close();
  });

  it('rejects unknown URLs with INVALID_CONFIG', async () => {
    for (const url of ['redis://x:1', 'etcd://', 'etcd://host', 'memory:', '']) {
      await expect(openStore(url, { dataDir, logger })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });
});

describe('EtcdStore when etcd is down', () => {
  it('fails to connect with STORE_UNAVAILABLE', async () => {
    const dead = await startEtcd();
    await dead.stop();
    await expect(EtcdStore.connect({ endpoints: dead.endpoints, logger })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });

  it('maps failures to STORE_UNAVAILABLE and reports unhealthy after etcd dies', async () => {
    const doomed = await startEtcd();
    try {
      const store = await EtcdStore.connect({ endpoints: doomed.endpoints, logger, requestTimeoutMs: 2000 });
      await store.put('k', 'v');
      expect(await store.isHealthy()).toBe(true);
      doomed.kill9();
      await expect(store.get('k')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.put('k', 'w')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(await store.isHealthy()).toBe(false);
      await store.close();
    } finally {
      await doomed.stop();
    }
  });
});
