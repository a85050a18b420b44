import type { KeyValue } from '../store.ts';

/** The current key-value map and the store revision. KeyValue objects are frozen and replaced on write. */
export class Keyspace {
  revision = 0;
  private readonly kvs = new Map<string, KeyValue>();

  get size(): number {
    return this.kvs.size;
  }

  get(key: string): KeyValue | undefined {
    return this.kvs.get(key);
  }

  /** Keys starting with `prefix`, sorted by key as etcd returns them. */
  list(prefix: string): KeyValue[] {
    const items: KeyValue[] = [];
    for (const [key, kv] of this.kvs) if (key.startsWith(prefix)) items.push(kv);
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  all(): KeyValue[] {
    return [...this.kvs.values()];
  }

  put(key: string, value: string, lease: string | undefined, revision: number): KeyValue {
    const previous = this.kvs.get(key);
    const kv: KeyValue = Object.freeze({
      key,
      value,
      createRevision: previous ? previous.createRevision : revision,
      modRevision: revision,
      version: previous ? previous.version + 1 : 1,
      ...(lease === undefined ? {} : { lease }),
    });
    this.kvs.set(key, kv);
    return kv;
  }

  /** Removes a key and returns what it held. */
  delete(key: string): KeyValue | undefined {
    const previous = this.kvs.get(key);
    if (previous) this.kvs.delete(key);
    return previous;
  }

  /** Restores a key from a snapshot. */
  load(kv: KeyValue): void {
    this.kvs.set(kv.key, Object.freeze({ ...kv }));
  }
}
