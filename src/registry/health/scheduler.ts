import type { Logger } from 'pino';
import type { Clock, Instance, MeshChange, TimerHandle } from '../../core/index.ts';
import { sameCheck } from '../records.ts';
import type { ChangeSubscription, Registry } from '../types.ts';

export interface SchedulerOptions {
  registry: Registry;
  clock: Clock;
  logger: Logger;
  /** One check of one instance (with its latest registry copy). */
  run(instance: Instance): Promise<void>;
  /** Called when an instance leaves the schedule (deleted, check removed or changed). */
  forget?(id: string): void;
  /** An instance that appears while running is first checked after this plus up to this again. Default 100 ms. */
  firstCheckDelayMs?: number;
}

export interface Scheduler {
  start(): void;
  /** Stops scheduling and waits for the checks in flight. */
  stop(): Promise<void>;
  /** Instances on the schedule. */
  size(): number;
}

interface Entry {
  instance: Instance;
  nextAt: number;
  timer: TimerHandle | undefined;
  running: boolean;
}

/**
 * Runs each checked instance's check every `intervalMs`. Instances already registered at start
 * are spread over their interval by a stable hash of their id, so thousands never fire at once;
 * instances that appear later are checked within ~100-200 ms, so they become healthy quickly, and
 * then move to their slot (see nextSlot). A check still in flight when its next turn comes is skipped.
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { registry, clock, logger } = options;
  const firstDelay = options.firstCheckDelayMs ?? 100;
  const entries = new Map<string, Entry>();
  const inFlight = new Set<Promise<void>>();
  let subscription: ChangeSubscription | undefined;
  let stopped = false;

  function add(instance: Instance, delay: number): void {
    const entry: Entry = { instance, nextAt: clock.now() + delay, timer: undefined, running: false };
    entries.set(instance.id, entry);
    arm(entry);
  }

  function remove(id: string): void {
    const entry = entries.get(id);
    if (!entry) return;
    if (entry.timer) clock.clearTimeout(entry.timer);
    entries.delete(id);
    options.forget?.(id);
  }

  function arm(entry: Entry): void {
    entry.timer = clock.setTimeout(() => fire(entry), Math.max(0, entry.nextAt - clock.now()));
    entry.timer.unref?.();
  }

  function fire(entry: Entry): void {
    entry.timer = undefined;
    if (stopped || entries.get(entry.instance.id) !== entry) return;
    entry.nextAt = nextSlot(entry.instance.id, entry.instance.check!.intervalMs, clock.now());
    arm(entry);
    if (entry.running) {
      logger.debug({ id: entry.instance.id }, 'health: previous check still running; skipping this turn');
      return;
    }
    entry.running = true;
    const run = options
      .run(entry.instance)
      .catch((error: unknown) =>
        logger.warn({ err: error, id: entry.instance.id }, 'health: check failed to run'),
      )
      .finally(() => {
        entry.running = false;
        inFlight.delete(run);
      });
    inFlight.add(run);
  }

  function onChange(change: MeshChange): void {
    if (change.type === 'instance.delete') {
      if (entries.get(change.id)?.instance.service === change.service) remove(change.id);
      return;
    }
    if (change.type !== 'instance.put') return;
    const { instance } = change;
    const entry = entries.get(instance.id);
    if (!instance.check) {
      remove(instance.id);
      return;
    }
    if (entry && sameCheck(entry.instance.check, instance.check)) {
      entry.instance = instance;
      return;
    }
    remove(instance.id);
    add(instance, firstDelay > 0 ? firstDelay + (hash(instance.id) % firstDelay) : 0);
  }

  return {
    start() {
      if (subscription || stopped) return;
      // Subscribing at the current revision and listing in the same turn leaves no gap.
      subscription = registry.subscribe(onChange);
      for (const instance of registry.listInstances()) {
        if (!instance.check) continue;
        const { intervalMs } = instance.check;
        const now = clock.now();
        add(instance, ((hash(instance.id) % intervalMs) - (now % intervalMs) + intervalMs) % intervalMs);
      }
      logger.debug({ instances: entries.size }, 'health: scheduler started');
    },
    async stop() {
      stopped = true;
      subscription?.close();
      for (const entry of entries.values()) if (entry.timer) clock.clearTimeout(entry.timer);
      entries.clear();
      await Promise.all([...inFlight]);
    },
    size: () => entries.size,
  };
}

/**
 * Every instance owns a fixed slot in its interval (a hash of its id), on a grid shared by all
 * instances: however the instances arrived, even all at once, their checks stay spread evenly.
 * Missed turns (a blocked loop, a clock jump) are skipped, and a turn never comes sooner than half
 * an interval after the previous one.
 */
export function nextSlot(id: string, interval: number, now: number): number {
  const offset = hash(id) % interval;
  let next = now - ((((now - offset) % interval) + interval) % interval) + interval;
  if (next - now < interval / 2) next += interval;
  return next;
}

/** FNV-1a: a cheap, stable spread of ids. */
export function hash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
