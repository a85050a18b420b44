import type { Logger } from 'pino';
import { type Clock, type HealthCheck, type Instance, isMeshError, systemClock } from '../../core/index.ts';
import type { Store } from '../../store/index.ts';
import { registryKeys } from '../keys.ts';
import { sameCheck } from '../records.ts';
import type { Registry } from '../types.ts';
import { createHttpProber } from './http-check.ts';
import { createLeaderElection, type StopOptions } from './leader.ts';
import { createScheduler } from './scheduler.ts';
import { applyResult, type CheckResult, type HealthTracker, shouldDeregister, trackerFor } from './state.ts';
import { probeTcp } from './tcp-check.ts';
import { probeTtl } from './ttl-check.ts';

export interface HealthCheckerOptions {
  registry: Registry;
  store: Store;
  logger: Logger;
  /** This control-plane node, written into the leader key. */
  nodeId: string;
  clock?: Clock;
  /** Default `/trellis/leader/health-checker`. */
  leaderKey?: string;
  /** The registry's key prefix (for heartbeat keys); default `/trellis/`. */
  keyPrefix?: string;
  /** Leader lease TTL; default 3 s. */
  leaseTtlSeconds?: number;
  /** See SchedulerOptions.firstCheckDelayMs. */
  firstCheckDelayMs?: number;
  /** Told the result of every check run (for metrics). */
  onResult?: (check: HealthCheck, result: CheckResult) => void;
}

export interface HealthChecker {
  start(): Promise<void>;
  /** `{ revoke: false }` leaves the leader lease to expire, as if the process died. */
  stop(options?: StopOptions): Promise<void>;
  isLeader(): boolean;
}

/**
 * Active health checks for the whole mesh. Every control-plane node runs one; only the elected
 * leader checks, so each instance is probed once per interval however many nodes there are.
 */
export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  const { registry, store } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger.child({ part: 'health-checker' });
  const keys = registryKeys(options.keyPrefix);
  const election = createLeaderElection({
    store,
    key: options.leaderKey ?? '/trellis/leader/health-checker',
    nodeId: options.nodeId,
    ttlSeconds: options.leaseTtlSeconds ?? 3,
    logger,
    clock,
  });
  /** The current leadership term's stop(), undefined while following. */
  let term: (() => Promise<void>) | undefined;
  let stopping: Promise<void> = Promise.resolve();

  /** One leadership term: a scheduler, its trackers and its HTTP pool, stopped together. */
  function startTerm(): () => Promise<void> {
    const trackers = new Map<string, HealthTracker>();
    const http = createHttpProber();
    let active = true;
    const probe = (instance: Instance): Promise<CheckResult> => {
      const check = instance.check!;
      if (check.type === 'http') return http.probe(check);
      if (check.type === 'tcp') return probeTcp(check);
      return probeTtl(store, keys, instance);
    };
    const scheduler = createScheduler({
      registry,
      clock,
      logger,
      firstCheckDelayMs: options.firstCheckDelayMs,
      forget: (id) => trackers.delete(id),
      run: async (instance) => {
        const check = instance.check!;
        const result = await probe(instance);
        options.onResult?.(check, result);
        const latest = registry.getInstance(instance.id);
        // Leadership lost, or the instance changed or left while the probe ran: drop the result.
        if (!active || !latest || !sameCheck(latest.check, check)) return;
        let tracker = trackers.get(instance.id);
        if (!tracker || tracker.health !== latest.health) tracker = trackerFor(latest);
        const now = clock.now();
        tracker = applyResult(tracker, result.status, check, now);
        trackers.set(instance.id, tracker);
        try {
          if (tracker.health !== latest.health) {
            logger.info(
              { id: instance.id, from: latest.health, to: tracker.health, output: result.output },
              'health changed',
            );
            await registry.setHealth(instance.id, tracker.health, result.output);
          }
          if (shouldDeregister(tracker, check, now)) {
            logger.info(
              { id: instance.id, unhealthySince: tracker.unhealthySince },
              'deregistering an instance unhealthy for too long',
            );
            await registry.deregisterInstance(instance.id);
          }
        } catch (error) {
          if (!isMeshError(error) || error.code !== 'INSTANCE_NOT_FOUND') throw error;
        }
      },
    });
    scheduler.start();
    return async () => {
      active = false;
      await scheduler.stop();
      await http.close();
    };
  }

  election.onChange((leader) => {
    const previous = term;
    term = leader ? startTerm() : undefined;
    if (previous) stopping = Promise.all([stopping, previous()]).then(() => {});
  });

  return {
    start: () => election.start(),
    async stop(stopOptions) {
      await election.stop(stopOptions);
      const previous = term;
      term = undefined;
      await Promise.all([stopping, previous?.()]);
    },
    isLeader: () => election.isLeader(),
  };
}
