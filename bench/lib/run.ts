/**
 * What the process-based benchmarks share: settings from the environment, progress lines on stderr,
 * and the processes and folders a run leaves behind, stopped and removed once at its end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Started } from './processes.ts';

/** QUICK=1 asks for a short smoke run. */
export const QUICK = process.env.QUICK === '1';

/** The non-negative number in the environment variable `name`; unset or empty: `normal` (`quick` under QUICK=1). */
export function setting(name: string, normal: number, quick = normal): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? (QUICK ? quick : normal) : Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
}

/**
 * The settings of a benchmark that drives wrk through proxies pinned to cores (their headers list the
 * variables); each chooses its own warm-up.
 */
export function loadSettings(warmSeconds: number) {
  return {
    ROUNDS: setting('ROUNDS', 3, 1),
    DUR: setting('DUR', 5, 2),
    WARM: setting('WARM', warmSeconds, 1),
    CONNS: setting('CONNS', 32),
    CORE_LOAD: setting('CORE_LOAD', 0),
    CORE_PROXY: setting('CORE_PROXY', 1),
    BODY_BYTES: setting('BODY_BYTES', 1024),
  };
}

/** A progress line on stderr, stamped with the time of day. */
export function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export interface BenchRun {
  /** Hands over a started process, to be stopped by PID at cleanup. */
  track(child: Started): void;
  /** A new temporary folder named `<prefix>…`, removed at cleanup. */
  tempDir(prefix: string): string;
  /**
   * Calls `stopLoad`, stops every tracked process (the last started first), then removes the folders;
   * only the first call does anything.
   */
  cleanup(): Promise<void>;
}

/** `stopLoad` stops a load generator that may still run (it is not tracked: it ends by itself). */
export function createBenchRun(stopLoad: () => void): BenchRun {
  const started: Started[] = [];
  const folders: string[] = [];
  let cleanedUp = false;
  return {
    track: (child) => {
      started.push(child);
    },
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      folders.push(dir);
      return dir;
    },
    async cleanup() {
      if (cleanedUp) return;
      cleanedUp = true;
      stopLoad();
      await Promise.all(started.reverse().map((child) => child.stop()));
      for (const dir of folders.reverse()) rmSync(dir, { recursive: true, force: true });
    },
  };
}
