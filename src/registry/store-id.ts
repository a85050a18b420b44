/**
 * The store's identity: a random id written once, with put-if-absent, the first time a registry
 * opens a store. It lives with the data (the embedded store's write-ahead log, or etcd), so it
 * survives restarts and crashes like the data does, every control-plane node sharing an etcd
 * cluster reads the same one, and an empty data directory or a wiped etcd gets a new one.
 *
 * Revisions only mean something within one store: the watch stream sends the id with its snapshot
 * and a client resuming with another store's id gets a fresh snapshot instead of the changes after
 * a revision of a history it never saw (etcd's cluster_id, Consul's index reset).
 */
import { randomUUID } from 'node:crypto';
import { isMeshError } from '../core/index.ts';
import type { Store } from '../store/index.ts';

const ATTEMPTS = 3;

/** Reads the id stored at `key`, creating it when there is none; concurrent callers agree on one. */
export async function ensureStoreId(store: Store, key: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const existing = await store.get(key);
    if (existing && existing.value !== '') return existing.value;
    const id = randomUUID();
    try {
      // Only if the key is still as read: absent (0), or an empty value left by hand.
      await store.put(key, id, { expectedModRevision: existing?.modRevision ?? 0 });
      return id;
    } catch (error) {
      // Another node created it first: read theirs.
      if (!isMeshError(error) || error.code !== 'CONFLICT' || attempt === ATTEMPTS) throw error;
    }
  }
}
