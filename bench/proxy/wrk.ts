import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reapedChildrenCpuSeconds } from '../lib/processes.ts';

const REPORT_LUA = fileURLToPath(new URL('./lua/report.lua', import.meta.url));

/** What lua/report.lua prints at the end of a wrk run (latencies in microseconds). */
export interface WrkResult {
  requests: number;
  duration_us: number;
  bytes: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

export interface WrkRun {
  url: string;
  core: number;
  connections: number;
  seconds: number;
  /** Mean think time per connection between requests (random 0..2×), for a paced load. */
  delayMs?: number;
}

export function wrkErrors(result: WrkResult): number {
  return result.err_connect + result.err_read + result.err_write + result.err_status + result.err_timeout;
}

/** The wrk process currently running, so an interrupted benchmark can stop it by PID. */
let running: number | undefined;

export function stopRunningWrk(): void {
  if (running !== undefined) {
    try {
      process.kill(running, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Runs `taskset -c CORE wrk -t1` against one URL and returns its result and its CPU time (wrk is
 * this process's child, so its CPU shows in this process's reaped-children times once it exits).
 * Bounded: wrk is killed if it outlives its duration by 15 s.
 */
export async function runWrk(run: WrkRun): Promise<{ result: WrkResult; cpuNs: number }> {
  const args = ['-c', String(run.core), 'wrk', '-t1', `-c${run.connections}`, `-d${run.seconds}s`];
  args.push('--timeout', '5s', '--latency', '-s', REPORT_LUA, run.url);
  const env = { ...process.env, WRK_DELAY_MS: run.delayMs === undefined ? '' : String(run.delayMs) };
  const cpuBefore = reapedChildrenCpuSeconds();
  const child = spawn('taskset', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running = child.pid;
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), (run.seconds + 15) * 1000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => {
    clearTimeout(timer);
    running = undefined;
  });
  const cpuNs = (reapedChildrenCpuSeconds() - cpuBefore) * 1e9;
  const line = /^WRKJSON (.*)$/m.exec(output);
  if (line === null) {
    throw new Error(`wrk ${run.url} gave no result (exit ${code}): ${output.trim().slice(-500)}`);
  }
  return { result: JSON.parse(line[1]!) as WrkResult, cpuNs };
}
