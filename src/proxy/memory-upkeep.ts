/**
 * What a proxy process does about its own memory once it listens, the same in the primary process
 * (runDataPlane) and in each worker: drops the code only starting needed, gives back what a burst
 * left once traffic goes quiet, and gives malloc's free pages back every 2 s. Both timers are
 * unref'd: they never keep the process up.
 */

import type { Logger } from '../core/index.ts';
import { dropStartupCode } from './heap-collections.ts';
import { startIdleCompaction } from './idle-compaction.ts';
import { startMallocRelease } from './malloc-release.ts';

export function startMemoryUpkeep(logger: Logger): void {
  dropStartupCode();
  startIdleCompaction({ logger });
  startMallocRelease({ logger });
}
