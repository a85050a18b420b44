import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store, Watch, WatchEvent } from '../../src/store/index.ts';

// A 1 s lease must be gone eventually; etcd revokes expired leases from a 500 ms loop through
// raft, which on a loaded two-core CI machine has taken over 4.5 s. The bound only keeps a
// lease that never expires from hanging the suite.
const LEASE_EXPIRY_BOUND_MS = 15_000;

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
  /** Drops change history before `revision` (for the COMPACTED case; every store can). */
  compact(revision: number): Promise<void>;
}

interface Recorder {
  events: WatchEvent[];
  errors: Error[];
  watch: Watch;
}

async function record(store: Store, prefix: string, afterRevision?: number): Promise<Recorder> {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const watch = await store.watch(
    prefix,
    { onEvents: (batch) => events.push(...batch), onError: (error) => errors.push(error) },
    afterRevision === undefined ? {} : { afterRevision },
  );
  return { events, errors, watch };
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function revisionOf(event: WatchEvent): number {
  return event.type === 'put' ? event.kv.modRevision : event.modRevision;
}

function keyOf(event: WatchEvent): string {
  return event.type === 'put' ? event.kv.key : event.key;
}

/** The behaviour every Store must have (etcd's semantics); run it against each implementation. */
export function storeContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: Store;

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    it('puts and gets with revisions and versions', async () => {
      const first = await store.put('k', 'a');
      const second = await store.put('k', 'b');
      expect(second.revision).toBe(first.revision + 1);
      expect(await store.get('k')).toEqual({
        key: 'k',
        value: 'b',
        createRevision: first.revision,
        modRevision: second.revision,
        version: 2,
      });
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.revision()).toBe(second.revision);
      expect(store.kind).toMatch(/^(memory|etcd)$/);
      expect(await store.isHealthy()).toBe(true);
    });

    it('keeps values byte-exact, including unicode and empty strings', async () => {
      await store.put('u', 'héllo ✓ 😀');
      await store.put('e', '');
      expect((await store.get('u'))?.value).toBe('héllo ✓ 😀');
      expect((await store.get('e'))?.value).toBe('');
    });

    it('lists the keys under a prefix, sorted, with the revision it read at', async () => {
      for (const key of ['p/b', 'p/a', 'p/c/d', 'pz', 'q/a']) await store.put(key, key.toUpperCase());
      const listed = await store.list('p/');
      expect(listed.items.map((kv) => kv.key)).toEqual(['p/a', 'p/b', 'p/c/d']);
      expect(listed.items[0].value).toBe('P/A');
      expect(listed.revision).toBe(await store.revision());
      const empty = await store.list('nothing/');
      expect(empty.items).toEqual([]);
      expect(empty.revision).toBe(listed.revision);
      expect((await store.list('')).items.map((kv) => kv.key)).toEqual(['p/a', 'p/b', 'p/c/d', 'pz', 'q/a']);
    });

    it('puts with compare-on-revision, 0 meaning create-only', async () => {
      const created = await store.put('c', '1', { expectedModRevision: 0 });
      await expect(store.put('c', '2', { expectedModRevision: 0 })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      const updated = await store.put('c', '2', { expectedModRevision: created.revision });
      await expect(store.put('c', '3', { expectedModRevision: created.revision })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await expect(store.put('absent', 'x', { expectedModRevision: 5 })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      expect(await store.get('c')).toMatchObject({ value: '2', modRevision: updated.revision, version: 2 });
      expect(await store.get('absent')).toBeUndefined();
      expect(await store.revision()).toBe(updated.revision);
    });

    it('deletes, with and without compare-on-revision', async () => {
      const put = await store.put('d', '1');
      const deleted = await store.delete('d');
      expect(deleted).toEqual({ deleted: true, revision: put.revision + 1 });
      expect(await store.get('d')).toBeUndefined();
      expect(await store.delete('d')).toEqual({ deleted: false, revision: deleted.revision });

      const again = await store.put('d', '2');
      expect(await store.get('d')).toMatchObject({ createRevision: again.revision, version: 1 });
      await expect(store.delete('d', { expectedModRevision: put.revision })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await expect(store.delete('d', { expectedModRevision: 0 })).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await store.get('d')).toBeDefined();
      expect(await store.delete('d', { expectedModRevision: again.revision })).toEqual({
        deleted: true,
        revision: again.revision + 1,
      });
      await expect(store.delete('d', { expectedModRevision: again.revision })).rejects.toMatchObject({
        code: 'CONFLICT',
      });
    });

    it('rejects bad arguments with BAD_REQUEST', async () => {
      await expect(store.put('', 'x')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(store.get('')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(store.grantLease(0)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(store.put('k', 'v', { expectedModRevision: -1 })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    });

    it('watches from a list revision: exactly the later events, in order, none lost under concurrent writes', async () => {
      for (let i = 0; i < 10; i++) await store.put(`w/${i}`, 'before');
      const { revision } = await store.list('w/');
      // Writers start before the watch exists: the watch must still replay them from the list's revision.
      const writes = Array.from({ length: 500 }, (_, i) => store.put(`w/${i % 37}`, String(i)));
      const outside = Array.from({ length: 20 }, (_, i) => store.put(`x/${i}`, 'other'));
      const recorder = await record(store, 'w/', revision);
      const results = await Promise.all(writes);
      await Promise.all(outside);
      await eventually(() => recorder.events.length >= 500, '500 watch events');
      await sleep(100);

      expect(recorder.errors).toEqual([]);
      expect(recorder.events).toHaveLength(500);
      const seen = recorder.events.map(revisionOf);
      expect(seen).toEqual(results.map((r) => r.revision).sort((a, b) => a - b));
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
      const byRevision = new Map(results.map((r, i) => [r.revision, i]));
      for (const event of recorder.events) {
        expect(event.type).toBe('put');
        if (event.type !== 'put') continue;
        const i = byRevision.get(event.kv.modRevision)!;
        expect(event.kv).toMatchObject({ key: `w/${i % 37}`, value: String(i) });
      }
      await recorder.watch.close();
    });

    it('watches deliver puts and deletes with their revisions', async () => {
      const recorder = await record(store, 'e/', await store.revision());
      const put = await store.put('e/1', 'v');
      const updated = await store.put('e/1', 'w');
      const deleted = await store.delete('e/1');
      await eventually(() => recorder.events.length >= 3, 'three events');
      expect(recorder.events).toEqual([
        {
          type: 'put',
          kv: { key: 'e/1', value: 'v', createRevision: put.revision, modRevision: put.revision, version: 1 },
        },
        {
          type: 'put',
          kv: {
            key: 'e/1',
            value: 'w',
            createRevision: put.revision,
            modRevision: updated.revision,
            version: 2,
          },
        },
        { type: 'delete', key: 'e/1', modRevision: deleted.revision },
      ]);
      await recorder.watch.close();
    });

    it('a watch without afterRevision starts at the current revision', async () => {
      await store.put('n/old', '1');
      const recorder = await record(store, 'n/');
      await sleep(50);
      await store.put('n/new', '2');
      await eventually(() => recorder.events.length >= 1, 'one event');
      await sleep(100);
      expect(recorder.events.map(keyOf)).toEqual(['n/new']);
      await recorder.watch.close();
    });

    it('a watch sees only its prefix', async () => {
      const start = await store.revision();
      const recorder = await record(store, 'a/', start);
      for (const key of ['a', 'ab', 'b/x', 'a/', 'a/x', 'a/y/z']) await store.put(key, key);
      await eventually(() => recorder.events.length >= 3, 'three events');
      await sleep(100);
      expect(recorder.events.map(keyOf)).toEqual(['a/', 'a/x', 'a/y/z']);
      const listed = await store.list('a/');
      expect(listed.items.map((kv) => kv.key)).toEqual(['a/', 'a/x', 'a/y/z']);
      await recorder.watch.close();
    });

    it('closing a watch stops delivery', async () => {
      const recorder = await record(store, 'c/', await store.revision());
      await store.put('c/1', '1');
      await eventually(() => recorder.events.length === 1, 'first event');
      await recorder.watch.close();
      await store.put('c/2', '2');
      await store.delete('c/1');
      await sleep(300);
      expect(recorder.events).toHaveLength(1);
      expect(recorder.errors).toEqual([]);
    });

    it('a watch from before the retained history ends with COMPACTED', async () => {
      const start = await store.revision();
      for (let i = 0; i < 5; i++) await store.put('h/k', String(i));
      await fixture.compact(await store.revision());
      const recorder = await record(store, 'h/', start);
      await eventually(() => recorder.errors.length > 0, 'COMPACTED');
      expect(recorder.errors[0]).toMatchObject({ code: 'COMPACTED' });
      expect(recorder.events).toEqual([]);
      // From the current revision the watch works.
      const fresh = await record(store, 'h/', await store.revision());
      const put = await store.put('h/k', 'new');
      await eventually(() => fresh.events.length === 1, 'event after compaction');
      expect(revisionOf(fresh.events[0])).toBe(put.revision);
      await fresh.watch.close();
    });

    it('attaches keys to leases; revoking deletes them in one revision with delete events', async () => {
      const lease = await store.grantLease(30);
      expect(lease).toMatch(/^\d+$/);
      const start = await store.revision();
      await store.put('l/a', '1', { lease });
      await store.put('l/b', '2', { lease });
      const other = await store.put('l/c', '3');
      expect((await store.get('l/a'))?.lease).toBe(lease);
      expect((await store.get('l/c'))?.lease).toBeUndefined();
      const recorder = await record(store, 'l/', other.revision);
      await store.revokeLease(lease);
      await eventually(() => recorder.events.length >= 2, 'two delete events');
      const revision = await store.revision();
      expect(revision).toBe(other.revision + 1);
      expect(recorder.events).toEqual([
        { type: 'delete', key: 'l/a', modRevision: revision },
        { type: 'delete', key: 'l/b', modRevision: revision },
      ]);
      expect((await store.list('l/')).items.map((kv) => kv.key)).toEqual(['l/c']);
      expect(start).toBeLessThan(revision);
      await expect(store.keepAlive(lease)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await expect(store.put('l/d', '4', { lease })).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await store.revokeLease(lease);
      await recorder.watch.close();
    });

    it('a put without a lease detaches the key from its lease', async () => {
      const lease = await store.grantLease(30);
      await store.put('dl/k', '1', { lease });
      await store.put('dl/k', '2');
      await store.revokeLease(lease);
      expect(await store.get('dl/k')).toMatchObject({ value: '2', version: 2 });
      expect((await store.get('dl/k'))?.lease).toBeUndefined();
    });

    it('unknown leases: keepAlive and put throw LEASE_NOT_FOUND, revoke is a no-op', async () => {
      await expect(store.keepAlive('7263541')).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await expect(store.put('k', 'v', { lease: '7263541' })).rejects.toMatchObject({
        code: 'LEASE_NOT_FOUND',
      });
      await expect(store.revokeLease('7263541')).resolves.toBeUndefined();
      expect(await store.get('k')).toBeUndefined();
    });

    it('an expired lease deletes its keys with delete events; keepAlive then throws LEASE_NOT_FOUND', async () => {
      const lease = await store.grantLease(1);
      const put = await store.put('x/k', 'v', { lease });
      const recorder = await record(store, 'x/', put.revision);
      await eventually(() => recorder.events.length > 0, 'the expiry delete event', LEASE_EXPIRY_BOUND_MS);
      expect(recorder.events).toEqual([{ type: 'delete', key: 'x/k', modRevision: put.revision + 1 }]);
      expect(await store.get('x/k')).toBeUndefined();
      await expect(store.keepAlive(lease)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await recorder.watch.close();
    });

    it('keepAlive extends a lease', async () => {
      const lease = await store.grantLease(1);
      await store.put('ka/k', 'v', { lease });
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        await store.keepAlive(lease);
        await sleep(200);
      }
      expect(await store.get('ka/k')).toMatchObject({ lease });
      const deadline = Date.now() + LEASE_EXPIRY_BOUND_MS;
      while ((await store.get('ka/k')) !== undefined) {
        if (Date.now() > deadline) throw new Error('the key outlived its lease');
        await sleep(50);
      }
    });

    it('after close, every call throws STORE_CLOSED and open watches end with STORE_CLOSED', async () => {
      await store.put('z', '1');
      const lease = await store.grantLease(30);
      const recorder = await record(store, 'z');
      await store.close();
      await eventually(() => recorder.errors.length > 0, 'STORE_CLOSED on the watch');
      expect(recorder.errors[0]).toMatchObject({ code: 'STORE_CLOSED' });
      const closed = { code: 'STORE_CLOSED' };
      await expect(store.get('z')).rejects.toMatchObject(closed);
      await expect(store.list('')).rejects.toMatchObject(closed);
      await expect(store.put('z', '2')).rejects.toMatchObject(closed);
      await expect(store.delete('z')).rejects.toMatchObject(closed);
      await expect(store.grantLease(5)).rejects.toMatchObject(closed);
      await expect(store.keepAlive(lease)).rejects.toMatchObject(closed);
      await expect(store.revokeLease(lease)).rejects.toMatchObject(closed);
      await expect(store.watch('', { onEvents: () => undefined })).rejects.toMatchObject(closed);
      await expect(store.revision()).rejects.toMatchObject(closed);
      expect(await store.isHealthy()).toBe(false);
      await store.close();
    });
  });
}
