import type { Logger } from 'pino';
import { type Clock, MeshError } from '../core/index.ts';
import { EtcdStore } from './etcd.ts';
import { MemoryStore } from './memory/index.ts';
import type { Store } from './store.ts';

export interface OpenStoreOptions {
  /** Where the embedded store keeps its log and snapshots (unused for etcd). */
  dataDir: string;
  logger: Logger;
  clock?: Clock;
}

/**
 * Opens the store a URL names: `memory` (the embedded store in `dataDir`) or
 * `etcd://host:port[,host:port…][/prefix]`, where the optional path namespaces every key.
 */
export async function openStore(url: string, options: OpenStoreOptions): Promise<Store> {
  if (url === 'memory') {
    return MemoryStore.open({ dataDir: options.dataDir, logger: options.logger, clock: options.clock });
  }
  const match = /^etcd:\/\/([^/\s]+)(\/\S*)?$/.exec(url);
  const endpoints = match?.[1].split(',').filter((host) => host.length > 0) ?? [];
  if (
    !match ||
    endpoints.length === 0 ||
    !endpoints.every((host) => /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d+$/.test(host))
  ) {
    throw new MeshError(
      'INVALID_CONFIG',
      `Unknown store URL "${url}"; expected "memory" or "etcd://host:port[,host:port…]".`,
      {
        details: [{ path: 'store', message: 'expected "memory" or "etcd://host:port[,host:port…]"' }],
      },
    );
  }
  const path = match[2]?.replace(/^\/+|\/+$/g, '') ?? '';
  return EtcdStore.connect({ endpoints, prefix: path === '' ? '' : `${path}/`, logger: options.logger });
}
