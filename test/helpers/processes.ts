/**
 * Child processes for end-to-end tests: `trellis start` and instance servers, each stopped by its PID.
 * The TRELLIS_* variables of whoever runs the tests are not passed on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TRELLIS_BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const COUNTING_SERVER = fileURLToPath(new URL('./counting-server.ts', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
  readonly running: boolean;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TRELLIS_')) env[name] = value;
  }
  return { ...env, ...extra };
}

export function spawnChild(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: string) => {
    output = (output + chunk).slice(-64_000);
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`could not start ${args.join(' ')}`);
  return {
    process: child,
    pid: child.pid,
    output: () => output,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
  };
}

/** Waits until the child's output matches `pattern`; fails if it exits first or the time is up. */
export async function waitForOutput(
  child: Child,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(child.output());
    if (match) return match;
    if (!child.running) throw new Error(`the process exited before printing ${pattern}:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Sends `signal` to the child by PID (once it is known to run), then SIGKILL if it outlives `timeoutMs`. */
export async function stopChild(
  child: Child,
  signal: NodeJS.Signals = 'SIGTERM',
  timeoutMs = 15_000,
): Promise<void> {
  if (!child.running) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (child.running) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      resolve();
    }, timeoutMs);
  });
  await Promise.race([child.exited, killed]);
  clearTimeout(timer);
  await child.exited;
}

export interface TrellisStart extends Child {
  readonly controlUrl: string;
  /** Undefined with --no-gateway. */
  readonly gatewayUrl: string | undefined;
}

/** `trellis start` with `args`; resolves once it has printed its addresses. */
export async function startTrellis(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<TrellisStart> {
  const child = spawnChild([TRELLIS_BIN, 'start', ...args], options);
  try {
    const [, controlUrl] = await waitForOutput(child, /listening on (http:\/\/\S+)/, options.timeoutMs);
    const [, gateway] = await waitForOutput(child, /gateway: +(\S+)/, options.timeoutMs);
    return Object.assign(child, {
      controlUrl: controlUrl!,
      gatewayUrl: gateway === 'off' ? undefined : gateway,
    }) as TrellisStart;
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
}

export interface CountingInstance extends Child {
  readonly port: number;
}

/** An instance server in its own process (see counting-server.ts); port 0 picks a free one. */
export async function startCountingInstance(port = 0, name = 'instance'): Promise<CountingInstance> {
  const child = spawnChild(['--import', 'tsx', COUNTING_SERVER, String(port), name]);
  try {
    const [line] = await waitForOutput(child, /\{"port":\d+,"pid":\d+\}/);
    return Object.assign(child, { port: (JSON.parse(line!) as { port: number }).port }) as CountingInstance;
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
}

/** The requests the instance has counted, asked directly (not through the mesh). */
export async function countOf(instance: { port: number }): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${instance.port}/count`);
  return ((await response.json()) as { count: number }).count;
}
