/**
 * Gives a proxy's heap memory back once its traffic has gone quiet.
 *
 * What outlives a request (connections, spans waiting for their export) fills V8's old generation
 * until the next full collection, so a burst leaves a proxy several MiB larger. V8 has a memory
 * reducer for this, but it runs its memory-reducing collections once after start and then only
 * again when the committed heap has grown by 10 MB since (V8's `kCommittedMemoryDelta`): a proxy's
 * heap of 8-16 MB never gets there, and what a burst left stays (in bench:proxy's harness: 60.3 MiB
 * resident 30 s after the second saturating run, 54.4 after the first). Node has no way to ask V8
 * for that memory-reducing collection, so this runs the nearest thing when nothing is waiting on the
 * event loop: a full collection that compacts every page, so emptied pages go back to the system.
 * A request that arrives meanwhile waits for it (~60 ms); at a rate that keeps the loop this quiet,
 * the heap takes long to grow the 1 MiB that another one needs.
 */

import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Clock, Logger } from '../core/index.ts';
import { systemClock } from '../core/index.ts';
import { compactingCollection } from './heap-collections.ts';

export interface IdleCompactionOptions {
  logger: Logger;
  clock?: Clock;
  /** How often the process is looked at (default 1 s). */
  checkEveryMs?: number;
  /** How long it must have been quiet before a compaction (default 5 s). */
  quietMs?: number;
  /** Quiet: the event loop was busy less than this share of the time (default 0.02). */
  quietUtilization?: number;
  /** How far V8's committed heap must be above its lowest since the last compaction (default 1 MiB). */
  growthBytes?: number;
  /** The event loop's busy share since the previous call (default: Node's event loop utilization). */
  utilization?: () => number;
  /** V8's committed heap in bytes (default: `total_heap_size`). */
  committedHeap?: () => number;
  /** Runs the compaction (default: `compactingCollection()`). */
  compact?: () => void;
}

export interface IdleCompaction {
  /** Compactions run so far. */
  readonly runs: number;
  stop(): void;
}

export function startIdleCompaction(options: IdleCompactionOptions): IdleCompaction {
  const clock = options.clock ?? systemClock;
  const checkEveryMs = options.checkEveryMs ?? 1_000;
  const quietMs = options.quietMs ?? 5_000;
  const quietUtilization = options.quietUtilization ?? 0.02;
  const growthBytes = options.growthBytes ?? 1024 * 1024;
  const utilization = options.utilization ?? eventLoopUtilization();
  const committedHeap = options.committedHeap ?? (() => getHeapStatistics().total_heap_size);
  const compact = options.compact ?? compactingCollection();

  let lowest = committedHeap();
  let quietFor = 0;
  let runs = 0;
  let timer = clock.setTimeout(check, checkEveryMs);
  timer.unref?.();

  function check(): void {
    quietFor = utilization() < quietUtilization ? quietFor + checkEveryMs : 0;
    const committed = committedHeap();
    if (committed < lowest) lowest = committed;
    if (quietFor >= quietMs && committed >= lowest + growthBytes) {
      const started = performance.now();
      compact();
      const after = committedHeap();
      runs++;
      options.logger.debug(
        { committedBefore: committed, committedAfter: after, ms: Math.round(performance.now() - started) },
        'proxy: compacted the heap after a quiet spell',
      );
      lowest = after;
      quietFor = 0;
    }
    timer = clock.setTimeout(check, checkEveryMs);
    timer.unref?.();
  }

  return {
    get runs() {
      return runs;
    },
    stop() {
      clock.clearTimeout(timer);
    },
  };
}

/** The event loop's busy share between one call and the next. */
function eventLoopUtilization(): () => number {
  let previous = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, previous).utilization;
    previous = now;
    return share;
  };
}
