import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { MemoryStore } from '../../src/store/index.ts';
import { storeContract } from './store.contract.ts';

const logger = pino({ level: 'silent' });

storeContract('memory (in-memory only)', async () => {
  const store = await MemoryStore.open({ logger });
  return {
    store,
    cleanup: () => store.close(),
    compact: (revision) => store.compact(revision),
  };
});

storeContract('memory (write-ahead log)', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'trellis-store-'));
  // Small snapshot interval so the contract also runs across log rotations and snapshots.
  const store = await MemoryStore.open({ dataDir, logger, snapshotEvery: 64 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
    compact: (revision) => store.compact(revision),
  };
});
