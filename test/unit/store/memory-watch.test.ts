import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, type WatchEvent } from '../../../src/store/index.ts';

const logger = pino({ level: 'silent' });
const stores: MemoryStore[] = [];

async function open(historySize?: number): Promise<MemoryStore> {
  const store = await MemoryStore.open({ logger, ...(historySize ? { historySize } : {}) });
  stores.push(store);
  return store;
}

function settle(ms = 30): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

describe('MemoryStore watches', () => {
  it('delivers asynchronously, never inside the writer', async () => {
    const store = await open();
    let inWriter = false;
    let calledInWriter = false;
    await store.watch('', {
      onEvents: () => {
        calledInWriter ||= inWriter;
      },
    });
    inWriter = true;
    const write = store.put('k', 'v');
    inWriter = false;
    await write;
    await settle();
    expect(calledInWriter).toBe(false);
  });

  it('a slow handler does not hold up writers, and still gets every event in order', async () => {
    const store = await open();
    const seen: number[] = [];
    await store.watch('', {
      onEvents: (events) => {
        const until = Date.now() + 20;
        while (Date.now() < until) {
          // busy: a slow consumer
        }
        for (const event of events)
          seen.push(event.type === 'put' ? event.kv.modRevision : event.modRevision);
      },
    });
    const results = [];
    for (let i = 0; i < 200; i++) results.push(await store.put(`k/${i % 7}`, String(i)));
    const deadline = Date.now() + 5000;
    while (seen.length < 200 && Date.now() < deadline) await settle(10);
    expect(seen).toEqual(results.map((r) => r.revision));
  });

  it('keeps delivering to other watchers when a handler throws', async () => {
    const store = await open();
    const good: WatchEvent[] = [];
    await store.watch('', {
      onEvents: () => {
        throw new Error('boom');
      },
    });
    await store.watch('', { onEvents: (events) => good.push(...events) });
    await store.put('a', '1');
    await store.put('b', '2');
    await settle();
    expect(good).toHaveLength(2);
  });

  it('retains a bounded history: older watches get COMPACTED, newer ones replay', async () => {
    const store = await open(10);
    for (let i = 0; i < 30; i++) await store.put('k', String(i));
    expect(store.stats().compactedThrough).toBe(20);
    const errors: Error[] = [];
    const events: WatchEvent[] = [];
    await store.watch(
      '',
      { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) },
      { afterRevision: 19 },
    );
    await store.watch(
      '',
      { onEvents: (e) => events.push(...e), onError: (e) => errors.push(e) },
      { afterRevision: 20 },
    );
    await settle();
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['COMPACTED']);
    expect(events).toHaveLength(10);
    expect(events.map((e) => (e.type === 'put' ? e.kv.modRevision : 0))).toEqual([
      21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
    ]);
  });

  it('splits a long backlog into batches without splitting a revision', async () => {
    const store = await open();
    for (let i = 0; i < 2500; i++) await store.put(`k/${i}`, 'v');
    const lease = await store.grantLease(60);
    for (let i = 0; i < 5; i++) await store.put(`l/${i}`, 'v', { lease });
    await store.revokeLease(lease);
    const batches: WatchEvent[][] = [];
    await store.watch('', { onEvents: (events) => batches.push(events) }, { afterRevision: 0 });
    await settle(100);
    const all = batches.flat();
    expect(all).toHaveLength(2500 + 5 + 5);
    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(1005);
    const revoke = all.slice(-5);
    expect(new Set(revoke.map((e) => (e.type === 'delete' ? e.modRevision : 0))).size).toBe(1);
    const withRevoke = batches.filter((b) => b.some((e) => e.type === 'delete'));
    expect(withRevoke).toHaveLength(1);
    expect(withRevoke[0].filter((e) => e.type === 'delete')).toHaveLength(5);
  });

  it('lists 10,000 keys quickly and sorted', async () => {
    const store = await open();
    for (let i = 0; i < 10_000; i++)
      await store.put(`svc/${String((i * 7919) % 10_000).padStart(5, '0')}`, 'v');
    const started = performance.now();
    const { items } = await store.list('svc/');
    const elapsed = performance.now() - started;
    expect(items).toHaveLength(10_000);
    for (let i = 1; i < items.length; i++) expect(items[i - 1].key < items[i].key).toBe(true);
    expect(elapsed).toBeLessThan(1000);
  });
});
