import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { EtcdStore } from '../../src/store/index.ts';
import { type EtcdProcess, startEtcd } from '../helpers/etcd.ts';
import { storeContract } from './store.contract.ts';

const logger = pino({ level: 'silent' });
let etcd: EtcdProcess;

beforeAll(async () => {
  etcd = await startEtcd();
});

afterAll(async () => {
  await etcd?.stop();
});

storeContract('etcd', async () => {
  // A unique prefix per store: the tests share one etcd and must not see each other's keys.
  const store = await EtcdStore.connect({ endpoints: etcd.endpoints, prefix: `t-${randomUUID()}/`, logger });
  return {
    store,
    cleanup: () => store.close(),
    compact: (revision) => store.compact(revision),
  };
});
