// A proxy's Node is started again, in the same process, with options that only take effect when Node
// starts: bin/trellis.js runs before any of them could be set.
//
// --v8-pool-size=1: V8's background threads (Node starts 4) compile optimized code and mark the heap
// beside the main thread. Each one that has run a task keeps a malloc arena of its own, ~0.4-0.5 MiB
// resident even after malloc_trim (native/malloc-trim.c): 1.8 MiB in a sidecar with four. A proxy
// is one event loop, pinned to a core or sharing one with its app, so three more threads buy it no
// parallelism. Harness (sidecar, 5 s saturating, then 20 s at 1,000 req/s, four interleaved pairs):
// highest RSS 57.7-58.4 MiB against 59.1-59.5, CPU per request at saturation and paced latency
// unchanged beyond run-to-run spread. Issue 3 holds a sidecar under 60 MB.
//
// The process is replaced (execve(2), native/process-exec.c; Node 20 has no process.execve), not
// spawned again: its PID, standard streams and parent stay what whoever started it knows. Where the
// native module was not built, the proxy runs with Node's defaults. Options the user gave on the
// command line or in NODE_OPTIONS win, and a relaunched process, which has them, is not relaunched;
// nor is one started with an IPC channel to its parent (which the new program would not inherit).
import { fileURLToPath } from 'node:url';

/** Node options a proxy starts with. */
export const PROXY_NODE_OPTIONS = ['--v8-pool-size=1'];

const PROXY_COMMANDS = new Set(['proxy', 'gateway']);

/** An option's name: `--v8-pool-size` for `--v8-pool-size=1`. */
function optionName(option) {
  const equals = option.indexOf('=');
  return equals === -1 ? option : option.slice(0, equals);
}

/**
 * The command line to start this process's Node again with (the program first), or undefined when
 * it is not a proxy or already has every option it would add.
 * `process`: `argv`, `execArgv`, `execPath`, `env` and `channel` as Node's `process` has them.
 */
export function relaunchCommandLine({ argv, execArgv, execPath, env, channel }) {
  if (!PROXY_COMMANDS.has(argv[2]) || channel !== undefined) return undefined;
  const given = new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map(optionName));
  const missing = PROXY_NODE_OPTIONS.filter((option) => !given.has(optionName(option)));
  if (missing.length === 0) return undefined;
  return [execPath, ...execArgv, ...missing, ...argv.slice(1)];
}

/**
 * Replaces this process with `commandLine` (same PID). Returns only when it cannot: the native
 * module is not built here, or the system refused (then `onError` hears why).
 */
export function relaunch(root, commandLine, env, onError = () => {}) {
  const addon = { exports: {} };
  try {
    // process.dlopen, not require(): this runs before anything else and stays off the CommonJS loader.
    process.dlopen(addon, fileURLToPath(new URL('native/build/Release/process_exec.node', root)));
  } catch {
    return;
  }
  const environment = Object.entries(env)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}=${value}`);
  try {
    addon.exports.exec(commandLine[0], commandLine, environment);
  } catch (error) {
    onError(error);
  }
}
