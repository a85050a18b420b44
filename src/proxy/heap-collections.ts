/**
 * Full collections a proxy asks V8 for itself, for what V8's own heuristics do not do in a heap as
 * small as a proxy's (see idle-compaction.ts and bin/trellis.js for the settings V8 runs with).
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc()`, from a fresh context: `--expose-gc` set after start does not reach the main one. */
function exposedCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * A full collection that compacts every page. V8's own collections move objects off only the most
 * fragmented pages, so what a burst left spread over many pages stays committed; compacting all of
 * them empties them. The compaction flag is set only around these collections, so V8's own keep
 * their cost. Two in a row, because that measured lower than one in the harness (56.4-57.0 MiB
 * against 56.8-57.8 right after, 60 ms against 27-43 for a proxy's heap, run only when quiet).
 */
export function compactingCollection(): () => void {
  const gc = exposedCollector();
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/** V8's flags that flush bytecode and baseline code, the stress one whatever is not running. */
const CODE_FLUSHING = ['flush-bytecode', 'flush-baseline-code', 'stress-flush-code'];

/**
 * Drops the compiled code of every function that is not running, once, when a proxy has started.
 * A proxy keeps its bytecode (`--no-flush-bytecode`, so code that idled through a few collections
 * does not compile again at the next request), which also kept everything that ran only while it
 * started: the CLI, option and config checks, module set-up. Flushing once, before any request,
 * drops that; the request path, which has not run yet, compiles on the first requests as it would
 * have anyway. Flushing is on only for these two collections (V8's stress mode, which flushes
 * whatever is not running instead of waiting for functions to age) and off after them, as
 * bin/trellis.js and a worker's options set it for a proxy.
 */
export function dropStartupCode(): void {
  const gc = exposedCollector();
  for (const flag of CODE_FLUSHING) setFlagsFromString(`--${flag}`);
  try {
    gc();
    gc();
  } finally {
    for (const flag of CODE_FLUSHING) setFlagsFromString(`--no-${flag}`);
  }
}
