import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Clock, isMeshError, systemClock, type TimerHandle } from '../../core/index.ts';
import type { LeaseId, Store, Watch, WatchEvent } from '../../store/index.ts';

export interface LeaderElectionOptions {
  store: Store;
  /** The key whose holder leads, e.g. `/trellis/leader/health-checker`. */
  key: string;
  logger: Logger;
  /** Written as the key's value so operators can see who leads. Default: a random UUID. */
  nodeId?: string;
  /** Lease TTL: how long a dead leader blocks others. Default 3 s. */
  ttlSeconds?: number;
  clock?: Clock;
}

export interface StopOptions {
  /**
   * Revoke the lease so another node takes over at once (default). `false` only stops renewing it,
   * as if this process died: others take over when the lease expires.
   */
  revoke?: boolean;
}

export interface LeaderElection {
  readonly nodeId: string;
  start(): Promise<void>;
  stop(options?: StopOptions): Promise<void>;
  isLeader(): boolean;
  /** Called with `true` on winning and `false` on losing or leaving leadership; returns an unsubscribe. */
  onChange(listener: (leader: boolean) => void): () => void;
}

/**
 * Leader election on a store lease, with nothing but the Store interface (so it behaves the same
 * on the embedded store and on etcd). To campaign, grant a lease and create the key on it only if
 * the key is absent. The leader renews the lease every ttl/3 and steps down when renewal fails;
 * followers watch the key (and poll it, in case the watch broke) and campaign when it is gone.
 */
export function createLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { store, key } = options;
  const clock = options.clock ?? systemClock;
  const nodeId = options.nodeId ?? randomUUID();
  const ttlSeconds = options.ttlSeconds ?? 3;
  const ttlMs = ttlSeconds * 1000;
  const logger = options.logger.child({ election: key, nodeId });
  const listeners = new Set<(leader: boolean) => void>();

  let running = false;
  let leader = false;
  let lease: LeaseId | undefined;
  /** Revision of the put that won the current term: older events about the key are stale. */
  let termRevision = 0;
  let lastRenewed = 0;
  let watch: Watch | undefined;
  let campaigning: Promise<void> | undefined;
  let renewTimer: TimerHandle | undefined;
  let pollTimer: TimerHandle | undefined;

  const later = (fn: () => void, ms: number): TimerHandle => {
    const handle = clock.setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  };

  const emit = (value: boolean) => {
    for (const listener of [...listeners]) {
      try {
        listener(value);
      } catch (error) {
        logger.warn({ err: error }, 'leader election: a listener threw');
      }
    }
  };

  function campaign(): Promise<void> {
    if (!running || leader) return Promise.resolve();
    campaigning ??= (async () => {
      let granted: LeaseId | undefined;
      try {
        granted = await store.grantLease(ttlSeconds);
        const { revision } = await store.put(key, nodeId, { lease: granted, expectedModRevision: 0 });
        if (!running) {
          await store.revokeLease(granted);
          return;
        }
        becomeLeader(granted, revision);
      } catch (error) {
        if (granted !== undefined) await store.revokeLease(granted).catch(() => {});
        if (!isMeshError(error) || error.code !== 'CONFLICT') {
          logger.warn({ err: error }, 'leader election: campaign failed; retrying on the next poll');
        }
      }
    })().finally(() => {
      campaigning = undefined;
    });
    return campaigning;
  }

  function becomeLeader(granted: LeaseId, revision: number): void {
    leader = true;
    lease = granted;
    termRevision = revision;
    lastRenewed = clock.now();
    logger.info('leader election: became leader');
    renewTimer = later(renew, ttlMs / 3);
    emit(true);
  }

  async function renew(): Promise<void> {
    renewTimer = undefined;
    const current = lease;
    if (!leader || current === undefined) return;
    try {
      await store.keepAlive(current);
      lastRenewed = clock.now();
    } catch (error) {
      if (isMeshError(error) && error.code === 'LEASE_NOT_FOUND') return stepDown('the lease expired');
      // A store hiccup: still leader while the lease may be alive, but not a moment longer.
      if (clock.now() - lastRenewed >= ttlMs) return stepDown('could not renew the lease in time');
      logger.warn({ err: error }, 'leader election: lease renewal failed; retrying');
    }
    if (leader && lease === current) renewTimer = later(renew, ttlMs / 3);
  }

  function stepDown(reason: string): void {
    if (!leader) return;
    leader = false;
    if (renewTimer) clock.clearTimeout(renewTimer);
    renewTimer = undefined;
    const old = lease;
    lease = undefined;
    logger.warn({ reason }, 'leader election: stepped down');
    emit(false);
    if (old !== undefined) void store.revokeLease(old).catch(() => {});
  }

  function onEvents(events: WatchEvent[]): void {
    if (!running) return;
    for (const event of events) {
      const eventKey = event.type === 'put' ? event.kv.key : event.key;
      if (eventKey !== key) continue;
      const revision = event.type === 'put' ? event.kv.modRevision : event.modRevision;
      if (event.type === 'delete') {
        if (leader && revision > termRevision) stepDown('the leader key was deleted');
        void campaign();
      } else if (leader && revision > termRevision && event.kv.lease !== lease) {
        stepDown('another node holds the leader key');
      }
    }
  }

  async function openWatch(): Promise<void> {
    let ended = false;
    let opened: Watch | undefined;
    try {
      const afterRevision = await store.revision();
      opened = await store.watch(
        key,
        {
          onEvents,
          onError: (error) => {
            ended = true;
            if (opened !== undefined && watch === opened) watch = undefined; // the next poll opens another
            if (running) logger.warn({ err: error }, 'leader election: watch ended');
          },
        },
        { afterRevision },
      );
      if (!running || ended) await opened.close();
      else watch = opened;
    } catch (error) {
      logger.warn({ err: error }, 'leader election: could not watch the leader key');
    }
  }

  async function poll(): Promise<void> {
    pollTimer = undefined;
    if (!running) return;
    try {
      if (!watch) await openWatch();
      if (!leader && running && !(await store.get(key))) await campaign();
    } catch (error) {
      logger.warn({ err: error }, 'leader election: poll failed');
    }
    if (running) pollTimer = later(poll, ttlMs);
  }

  return {
    nodeId,
    async start() {
      if (running) return;
      running = true;
      await openWatch();
      await campaign();
      if (running) pollTimer = later(poll, ttlMs);
    },
    async stop(stopOptions = {}) {
      if (!running) return;
      running = false;
      if (pollTimer) clock.clearTimeout(pollTimer);
      if (renewTimer) clock.clearTimeout(renewTimer);
      pollTimer = renewTimer = undefined;
      const closing = watch;
      watch = undefined;
      await closing?.close().catch(() => {});
      await campaigning;
      if (!leader) return;
      leader = false;
      const old = lease;
      lease = undefined;
      emit(false);
      if (old !== undefined && stopOptions.revoke !== false) await store.revokeLease(old).catch(() => {});
    },
    isLeader: () => leader,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
