import type { Instance } from '../../core/index.ts';
import type { Store } from '../../store/index.ts';
import type { RegistryKeys } from '../keys.ts';
import type { CheckResult } from './state.ts';

/**
 * Passes while the instance's heartbeat key exists: `heartbeat()` keeps it on a lease of the
 * check's TTL, so it disappears when heartbeats stop. Read from the store, not the view, so a
 * lagging watch cannot keep a dead instance healthy.
 */
export async function probeTtl(store: Store, keys: RegistryKeys, instance: Instance): Promise<CheckResult> {
  const kv = await store.get(keys.heartbeat(instance.service, instance.id));
  return kv
    ? { status: 'pass', output: 'TTL: heartbeat received in time' }
    : { status: 'fail', output: 'TTL: no heartbeat within the TTL' };
}
