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
//
// NODE_EXTRA_CA_CERTS: Node 20 reads the file when it starts and parses it, with its ~140 bundled
// root certificates, into OpenSSL's store, whether or not the process ever verifies a TLS peer:
// 1.8 MiB resident with Debian's bundle of 144 certificates (node -e, RSS with and without it). A
// proxy verifies one only when its control plane is https://. So its Node starts again without the
// variable, the file's name kept in TRELLIS_EXTRA_CA_CERTS, and src/core/extra-ca-certs.ts trusts
// the same certificates the first time such a connection needs them. Not with --use-openssl-ca,
// where the default trust is OpenSSL's own store rather than Node's bundled roots.
import { fileURLToPath } from 'node:url';

/** Node options a proxy starts with. */
export const PROXY_NODE_OPTIONS = ['--v8-pool-size=1'];

const PROXY_COMMANDS = new Set(['proxy', 'gateway']);

/** Where a relaunched proxy finds NODE_EXTRA_CA_CERTS's file (src/core/extra-ca-certs.ts reads it). */
export const DEFERRED_EXTRA_CA_CERTS = 'TRELLIS_EXTRA_CA_CERTS';

/** An option's name: `--v8-pool-size` for `--v8-pool-size=1`. */
function optionName(option) {
  const equals = option.indexOf('=');
  return equals === -1 ? option : option.slice(0, equals);
}

/**
 * The command line to start this process's Node again with (the program first), or undefined when
 * it is not a proxy, or already has every option it would add and no NODE_EXTRA_CA_CERTS to defer.
 * `process`: `argv`, `execArgv`, `execPath`, `env` and `channel` as Node's `process` has them.
 */
export function relaunchCommandLine({ argv, execArgv, execPath, env, channel }) {
  if (!PROXY_COMMANDS.has(argv[2]) || channel !== undefined) return undefined;
  const given = givenOptions(execArgv, env);
  const missing = PROXY_NODE_OPTIONS.filter((option) => !given.has(optionName(option)));
  if (missing.length === 0 && !defersExtraCaCerts(env, given)) return undefined;
  return [execPath, ...execArgv, ...missing, ...argv.slice(1)];
}

/**
 * The environment to start a proxy's Node again with: `env`, with NODE_EXTRA_CA_CERTS moved to
 * TRELLIS_EXTRA_CA_CERTS unless the default trust is OpenSSL's store.
 */
export function relaunchEnvironment({ execArgv, env }) {
  if (!defersExtraCaCerts(env, givenOptions(execArgv, env))) return env;
  const { NODE_EXTRA_CA_CERTS: file, ...rest } = env;
  return { ...rest, [DEFERRED_EXTRA_CA_CERTS]: file };
}

/** The names of the Node options given on the command line or in NODE_OPTIONS. */
function givenOptions(execArgv, env) {
  return new Set([...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map(optionName));
}

function defersExtraCaCerts(env, given) {
  return Boolean(env.NODE_EXTRA_CA_CERTS) && !given.has('--use-openssl-ca');
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
