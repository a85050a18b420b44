/**
 * A crash-test subject: opens a MemoryStore in the directory given as the first argument and writes
 * a stream of keys from several concurrent writers, printing `ack <key> <revision>` for each write as
 * soon as the store acknowledges it. The test SIGKILLs this process mid-stream and checks that every
 * acknowledged key survived. Usage: store-writer.ts <dataDir> <runId> [snapshotEvery]
 */
import { MemoryStore } from '../../src/store/index.ts';

const [dataDir, runId = 'run', snapshotEvery = '100'] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: store-writer.ts <dataDir> <runId> [snapshotEvery]');

const store = await MemoryStore.open({ dataDir, snapshotEvery: Number(snapshotEvery) });
process.stdout.write('ready\n');

let next = 0;
async function writer(): Promise<void> {
  for (;;) {
    const key = `crash/${runId}/${next++}`;
    const { revision } = await store.put(key, `value-of-${key}`);
    // Pipes to a parent are written synchronously on Linux: once this returns, the line is out.
    process.stdout.write(`ack ${key} ${revision}\n`);
  }
}

await Promise.all(Array.from({ length: 16 }, () => writer()));
