/**
 * Runs an ES module given as text in a child node (Trellis's sources through tsx, from the repo root)
 * and returns the JSON line it prints: for what has to happen in a process of its own (its own V8
 * flags, its resident memory, a process-wide setting). The child must exit 0.
 */
import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { REPO_ROOT } from './processes.ts';

export async function runModuleScript<T = Record<string, unknown>>(
  script: string,
  nodeFlags: readonly string[] = [],
): Promise<T> {
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  return JSON.parse(out.trim()) as T;
}
