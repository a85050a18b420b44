/**
 * Gives the pages glibc's malloc holds free back to the system, every 2 s.
 *
 * What Node keeps outside V8's heap (array buffers' bytes, sockets' and writes' native state) and
 * what V8's compiler threads use come from malloc, which returns memory to the system by itself
 * only from the top of an arena: the pages of chunks freed below one still in use stay resident, and
 * V8's compiler threads free most of what they used once their code is compiled. `malloc_trim(0)`
 * gives back every free page of every arena; Node does not expose it, so native/malloc-trim.c does.
 * In a sidecar at 1,000 req/s every call found pages to give back and took 0.2-2.4 ms of the event
 * loop; the sidecar's highest RSS at that rate was 0.8-1.3 MiB lower with it (harness, three
 * interleaved pairs). Envoy's `shrink_heap` overload action and Ruby's garbage collector do the
 * same for their allocators.
 *
 * The native module is built at `npm install` where a C compiler is found (scripts/build-native.js);
 * without it a proxy runs as before and says so in its debug log.
 */

import type { Clock, Logger } from '../core/index.ts';
import { systemClock } from '../core/index.ts';
import { loadNativeModule } from './native-modules.ts';

/** Runs malloc_trim(0); whether it gave any memory back. */
export type TrimMalloc = () => boolean;

/** How often a proxy gives malloc's free pages back (default). */
const RELEASE_EVERY_MS = 2_000;

/** The native trim, or undefined where it was not built or the C library has none. */
export function loadMallocTrim(root?: URL): TrimMalloc | undefined {
  const addon = loadNativeModule<{ trim: TrimMalloc; supported: boolean }>('malloc_trim', root);
  return addon?.supported ? addon.trim : undefined;
}

export interface MallocReleaseOptions {
  logger: Logger;
  clock?: Clock;
  /** How often (default 2 s). */
  everyMs?: number;
  /** The trim to run (default: the native one; null: none). */
  trim?: TrimMalloc | null;
}

export interface MallocRelease {
  /** Whether this process can give malloc's pages back at all. */
  readonly available: boolean;
  /** Trims run so far. */
  readonly runs: number;
  stop(): void;
}

export function startMallocRelease(options: MallocReleaseOptions): MallocRelease {
  const trim = options.trim === undefined ? loadMallocTrim() : (options.trim ?? undefined);
  if (!trim) {
    options.logger.debug(
      'proxy: native/malloc_trim is not built (npm rebuild with a C compiler builds it); malloc keeps its free pages',
    );
    return { available: false, runs: 0, stop() {} };
  }
  const run: TrimMalloc = trim;
  const clock = options.clock ?? systemClock;
  const everyMs = options.everyMs ?? RELEASE_EVERY_MS;
  let runs = 0;
  let timer = schedule();

  function schedule() {
    const next = clock.setTimeout(tick, everyMs);
    next.unref?.();
    return next;
  }

  function tick(): void {
    run();
    runs++;
    timer = schedule();
  }

  return {
    available: true,
    get runs() {
      return runs;
    },
    stop() {
      clock.clearTimeout(timer);
    },
  };
}
