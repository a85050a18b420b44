export { EtcdStore, type EtcdStoreOptions } from './etcd.ts';
export { MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './memory/index.ts';
export { type OpenStoreOptions, openStore } from './open.ts';
export * from './store.ts';
