/**
 * The data plane's metrics cost no prom-client (its import alone adds ~10 MiB to a sidecar): a real
 * Node process loads the proxy's modules with a resolve hook that refuses `prom-client`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOOK = `export async function resolve(specifier, context, next) {
  if (specifier === 'prom-client' || specifier.startsWith('prom-client/')) {
    throw new Error('prom-client imported by ' + context.parentURL);
  }
  return next(specifier, context);
}
`;

const DATA_PLANE = [
  'src/telemetry/exposition/index.ts',
  'src/telemetry/proxy-metrics.ts',
  'src/telemetry/process-metrics.ts',
  'src/telemetry/metrics-source.ts',
  'src/telemetry/metrics-server.ts',
  'src/proxy/workers/pool.ts',
  'src/proxy/index.ts',
];

interface Run {
  code: number | null;
  output: string;
}

describe('the data plane without prom-client', () => {
  let dir: string;
  let register: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-imports-'));
    await writeFile(join(dir, 'hook.mjs'), HOOK);
    register = join(dir, 'register.mjs');
    await writeFile(
      register,
      "import { register } from 'node:module';\nregister('./hook.mjs', import.meta.url);\n",
    );
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Runs `node --import tsx --import <hook> <args>` from the repository root. */
  function run(args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', register, ...args], {
        cwd: process.cwd(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
  }

  const importAll = (modules: readonly string[]) => [
    '--input-type=module',
    '-e',
    `${modules.map((module) => `await import(${JSON.stringify(`./${module}`)});`).join('\n')}\nconsole.log('loaded');`,
  ];

  it('loads the proxy, its metrics and the worker pool', async () => {
    const result = await run(importAll(DATA_PLANE));
    expect(result.output).not.toContain('prom-client imported');
    expect(result.output.trim()).toBe('loaded');
    expect(result.code).toBe(0);
  });

  it("loads a worker's entry (which refuses to run outside a worker, after its imports)", async () => {
    const result = await run(['src/proxy/workers/worker-main.ts']);
    expect(result.output).not.toContain('prom-client imported');
    expect(result.output).toContain('runs as a worker forked by the proxy worker pool');
  });

  it('the hook is real: the control plane’s metrics do import prom-client', async () => {
    const result = await run(importAll(['src/telemetry/control-metrics.ts']));
    expect(result.output).toContain('prom-client imported by file://');
    expect(result.code).not.toBe(0);
  });
});
