/**
 * Alert rules in the store, under `<prefix>alert-rules/<name>`, so every control plane sees the same
 * rules and they survive restarts. Like the registry: reads come from an in-memory copy kept current
 * by a store watch, and a write resolves once that copy has caught up with it (read-your-writes).
 */
import type { Logger } from 'pino';
import { type AlertRuleDefinition, alertRuleInput } from '../config/index.ts';
import { type Clock, isMeshError, systemClock, type TimerHandle } from '../core/index.ts';
import type { KeyValue, Store, Watch, WatchEvent } from '../store/index.ts';
import { registryKeys } from './keys.ts';
import { RevisionWaiters } from './revision-waiters.ts';

export interface AlertRuleStoreOptions {
  store: Store;
  logger: Logger;
  clock?: Clock;
  /** Root of the registry's keys; default `/trellis/`. */
  keyPrefix?: string;
  /** How long a write waits for the copy to catch up before failing STORE_UNAVAILABLE; default 10 s. */
  catchUpTimeoutMs?: number;
}

export interface AlertRuleStore {
  /** By name. */
  list(): AlertRuleDefinition[];
  get(name: string): AlertRuleDefinition | undefined;
  /** Adds or replaces a validated rule; `created` is false when it replaced one. */
  put(rule: AlertRuleDefinition): Promise<{ rule: AlertRuleDefinition; created: boolean }>;
  delete(name: string): Promise<boolean>;
  /** Called after the rules changed (by this node or another); returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

const RESYNC_MAX_DELAY_MS = 5_000;

export async function createAlertRuleStore(options: AlertRuleStoreOptions): Promise<AlertRuleStore> {
  const { store } = options;
  const logger = options.logger.child({ part: 'alert-rules' });
  const clock = options.clock ?? systemClock;
  const keys = registryKeys(options.keyPrefix);
  const prefix = keys.alertRules;
  const waiters = new RevisionWaiters(clock, options.catchUpTimeoutMs ?? 10_000);
  const rules = new Map<string, AlertRuleDefinition>();
  const listeners = new Set<() => void>();
  let revision = 0;
  let watch: Watch | undefined;
  /** Bumped whenever a watch is abandoned, so its late events are ignored. */
  let generation = 0;
  let closed = false;
  let resyncTimer: TimerHandle | undefined;

  function decode(kv: KeyValue): AlertRuleDefinition | undefined {
    const name = kv.key.slice(prefix.length);
    try {
      const result = alertRuleInput.safeParse({ ...JSON.parse(kv.value), name });
      if (result.success) return Object.freeze(result.data);
    } catch {
      // not JSON: reported below
    }
    logger.warn({ key: kv.key }, 'alert rules: ignoring an unreadable rule in the store');
    return undefined;
  }

  /** Applies events; returns whether the rules changed. */
  function apply(events: WatchEvent[]): boolean {
    let changed = false;
    for (const event of events) {
      const key = event.type === 'put' ? event.kv.key : event.key;
      const name = key.slice(prefix.length);
      if (!name || name.includes('/')) continue;
      if (event.type === 'delete') {
        changed = rules.delete(name) || changed;
        continue;
      }
      const rule = decode(event.kv);
      if (rule) rules.set(name, rule);
      else rules.delete(name);
      changed = true;
    }
    return changed;
  }

  function notify(): void {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        logger.warn({ err: error }, 'alert rules: a change listener threw');
      }
    }
  }

  function openWatch(afterRevision: number): Promise<Watch> {
    const current = generation;
    return store.watch(
      prefix,
      {
        onEvents(events) {
          if (current !== generation) return;
          for (const event of events) {
            const at = event.type === 'put' ? event.kv.modRevision : event.modRevision;
            if (at > revision) revision = at;
          }
          const changed = apply(events);
          waiters.release(revision);
          if (changed) notify();
        },
        onError(error) {
          if (current !== generation || closed) return;
          generation++;
          const broken = watch;
          watch = undefined;
          void broken?.close().catch(() => {});
          if (isMeshError(error) && error.code === 'STORE_CLOSED') return;
          logger.warn({ err: error }, 'alert rules: store watch ended; listing again');
          void resync(0);
        },
      },
      { afterRevision },
    );
  }

  async function load(): Promise<number> {
    const listed = await store.list(prefix);
    const before = JSON.stringify([...rules.entries()]);
    rules.clear();
    apply(listed.items.map((kv) => ({ type: 'put', kv })));
    revision = Math.max(revision, listed.revision);
    if (JSON.stringify([...rules.entries()]) !== before) notify();
    return listed.revision;
  }

  async function resync(attempt: number): Promise<void> {
    resyncTimer = undefined;
    const current = generation;
    try {
      const listedAt = await load();
      waiters.release(revision);
      if (closed || current !== generation) return;
      const opened = await openWatch(listedAt);
      if (closed || current !== generation) {
        await opened.close().catch(() => {});
        return;
      }
      watch = opened;
    } catch (error) {
      if (closed || current !== generation) return;
      const delay = Math.min(100 * 2 ** attempt, RESYNC_MAX_DELAY_MS);
      logger.warn({ err: error, retryInMs: delay }, 'alert rules: could not list the store again');
      resyncTimer = clock.setTimeout(() => void resync(attempt + 1), delay);
    }
  }

  watch = await openWatch(await load());

  return {
    list: () => [...rules.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),

    get: (name) => rules.get(name),

    async put(rule) {
      const created = !rules.has(rule.name);
      const written = await store.put(keys.alertRule(rule.name), JSON.stringify(rule));
      await waiters.wait(written.revision, revision);
      return { rule: rules.get(rule.name) ?? rule, created };
    },

    async delete(name) {
      const result = await store.delete(keys.alertRule(name));
      if (!result.deleted) return false;
      await waiters.wait(result.revision, revision);
      return true;
    },

    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      generation++;
      if (resyncTimer) clock.clearTimeout(resyncTimer);
      listeners.clear();
      waiters.close();
      const current = watch;
      watch = undefined;
      await current?.close().catch(() => {});
    },
  };
}
