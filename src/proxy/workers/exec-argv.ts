import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Node options that make the process run code given on the command line, not a file. */
const EVAL_OPTIONS = new Set(['-e', '--eval', '-p', '--print']);

/**
 * A worker's heap is set up as bin/trellis.js sets up a proxy's (see there): 1 MB semi-spaces,
 * bytecode kept, full collections started early. On the command line V8 ignores a growth factor
 * below 2, so the semi-space cap is set instead. One V8 background thread, as bin/relaunch.js
 * starts a proxy's main process with.
 */
export const WORKER_MEMORY_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--no-flush-bytecode',
  '--incremental-marking-hard-trigger=5',
  '--v8-pool-size=1',
];

/** An option's name: `--v8-pool-size` for `--v8-pool-size=1`. */
function optionName(option: string): string {
  const equals = option.indexOf('=');
  return equals === -1 ? option : option.slice(0, equals);
}

/**
 * The Node options a worker process starts with: the parent's, so flags such as
 * `--max-old-space-size` carry over, and tsx's loader, because workers run TypeScript sources.
 * `bin/trellis.js` registers tsx through its API, which leaves no trace in `process.execArgv`, so
 * the loader is added whenever the workers run from the sources and the parent's options do not
 * already load tsx (`tsx file.ts` and `node --import tsx` do).
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv, fromSource = true): string[] {
  const execArgv: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if (EVAL_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (/^(-e|--eval|-p|--print)=/.test(arg) || arg.startsWith('--input-type')) continue;
    execArgv.push(arg);
  }
  // The same memory settings bin/trellis.js gives a proxy's main process (see there), unless the
  // parent sets the option itself.
  const given = new Set(execArgv.map(optionName));
  for (const flag of WORKER_MEMORY_FLAGS) if (!given.has(optionName(flag))) execArgv.push(flag);
  if (fromSource && !execArgv.some((arg) => /(^|[/\\@=])tsx([/\\]|$)/.test(arg))) {
    const loader = createRequire(import.meta.url).resolve('tsx');
    execArgv.push('--import', pathToFileURL(loader).href);
  }
  return execArgv;
}
