/**
 * A key-value store with etcd's semantics: one global revision that every write increments,
 * per-key create/mod revisions and versions, leases that delete their keys when they expire, and
 * prefix watches that replay every event after a given revision, in order, with none lost.
 *
 * Two implementations pass one contract suite (test/contract/store.contract.ts): `MemoryStore`
 * (in-process, durable through a write-ahead log) and `EtcdStore`.
 */
export type LeaseId = string;

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the write that created the key (reset when it is deleted and created again). */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Number of writes since creation, starting at 1. */
  version: number;
  /** The lease the key is attached to, or undefined. */
  lease?: LeaseId;
}

export interface ListResult {
  items: KeyValue[];
  /** The store revision the list was read at; watch from here to miss nothing. */
  revision: number;
}

export interface PutOptions {
  lease?: LeaseId;
  /**
   * Compare-on-revision: the write happens only if the key's modRevision equals this; 0 means
   * "only if the key does not exist". A failed comparison throws MeshError CONFLICT.
   */
  expectedModRevision?: number;
}

export interface DeleteOptions {
  /** As for put; a failed comparison throws MeshError CONFLICT. */
  expectedModRevision?: number;
}

export interface WriteResult {
  /** Store revision after the write. */
  revision: number;
}

export interface DeleteResult extends WriteResult {
  deleted: boolean;
}

export type WatchEvent = { type: 'put'; kv: KeyValue } | { type: 'delete'; key: string; modRevision: number };

export interface WatchOptions {
  /** Deliver every event with modRevision > afterRevision. Defaults to the current revision. */
  afterRevision?: number;
}

export interface WatchHandlers {
  /** Events of one revision (or more) in revision order. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch ended and will deliver nothing more: COMPACTED when afterRevision is older than
   * the retained history (list again), STORE_UNAVAILABLE, or STORE_CLOSED.
   */
  onError?(error: Error): void;
}

export interface Watch {
  close(): Promise<void>;
}

export interface Store {
  /** A short name for logs and /healthz: `memory` or `etcd`. */
  readonly kind: string;
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string): Promise<ListResult>;
  put(key: string, value: string, options?: PutOptions): Promise<WriteResult>;
  delete(key: string, options?: DeleteOptions): Promise<DeleteResult>;
  /** Grants a lease that expires `ttlSeconds` after its last keep-alive. */
  grantLease(ttlSeconds: number): Promise<LeaseId>;
  /** Refreshes a lease once; throws MeshError LEASE_NOT_FOUND if it expired or was revoked. */
  keepAlive(lease: LeaseId): Promise<void>;
  /** Revokes a lease and deletes every key attached to it. Revoking an unknown lease is a no-op. */
  revokeLease(lease: LeaseId): Promise<void>;
  watch(prefix: string, handlers: WatchHandlers, options?: WatchOptions): Promise<Watch>;
  /** The current store revision. */
  revision(): Promise<number>;
  /** True while the store can serve requests (for /readyz). */
  isHealthy(): Promise<boolean>;
  close(): Promise<void>;
}
