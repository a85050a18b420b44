import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLOCK_TICKS_PER_SECOND = 100;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * On-CPU nanoseconds of all threads of a process so far, from each /proc/PID/task/TID/schedstat (ns
 * resolution, unlike the clock ticks of /proc/PID/stat). Threads that exited are not counted.
 */
export function cpuNanoseconds(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between readdir and read
    }
  }
  return total;
}

/**
 * The fields of /proc/<who>/stat after the command name (which is in parentheses and may hold
 * spaces): state is [0], and field N of the whole line is [N - 3].
 */
function statFields(who: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${who}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export interface CpuTicks {
  user: number;
  system: number;
}

/** Clock ticks `pid` has spent in user mode and in the kernel (all its threads; utime, stime). */
export function userSystemTicks(pid: number): CpuTicks {
  const fields = statFields(pid);
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

/** The user-mode share of the ticks spent between two readings (NaN when none were). */
export function userShare(before: CpuTicks, after: CpuTicks): number {
  const user = after.user - before.user;
  const total = user + after.system - before.system;
  return total > 0 ? user / total : Number.NaN;
}

/** CPU seconds (user + system) of this process's children that have exited and been reaped. */
export function reapedChildrenCpuSeconds(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory of a process in MiB. */
export function rssMiB(pid: number): number {
  return residentMiB(pid).total;
}

/**
 * Resident memory of a process in MiB: all of it, the anonymous part (heaps, stacks) and the part
 * backed by files (the executable's and libraries' pages, which every process running them shares).
 */
export function residentMiB(pid: number): { total: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

export interface Started {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  cwd?: string;
  /** false: stdout goes to this process's stdout (default: discarded). */
  quiet?: boolean;
  /** Append stdout and stderr to this file instead (stderr is inherited otherwise). */
  logFile?: string;
  /** The environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** Starts a process and returns a handle that stops it by PID (SIGTERM, then SIGKILL). */
export function startProcess(command: string, args: string[], options: StartOptions = {}): Started {
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    stdio:
      logFd === undefined
        ? ['ignore', options.quiet === false ? 'inherit' : 'ignore', 'inherit']
        : ['ignore', logFd, logFd],
  });
  if (logFd !== undefined) closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
