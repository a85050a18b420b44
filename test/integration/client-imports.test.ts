/**
 * The control-plane client is part of every sidecar, so it loads none of the packages whose import
 * alone costs a proxy megabytes of RSS (undici ~21 MiB, zod ~14, prom-client ~10, pino ~7): a real
 * Node process loads it with a resolve hook that refuses them. Type-only imports are erased and
 * do not count.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REFUSED = ['undici', 'zod', 'prom-client', 'pino'];

const HOOK = `const refused = ${JSON.stringify(REFUSED)};
export async function resolve(specifier, context, next) {
  if (refused.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    throw new Error(specifier + ' imported by ' + context.parentURL);
  }
  return next(specifier, context);
}
`;

describe('the control-plane client without heavy packages', () => {
  let dir: string;
  let register: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-client-imports-'));
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

  function run(script: string): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', '--import', register, '--input-type=module', '-e', script],
        { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
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

  it('loads src/client and makes a request and a watch with it', async () => {
    // A request and a watch against a port nothing listens on: every code path's imports load.
    const result = await run(`
      const { createControlClient, watchMesh } = await import('./src/client/index.ts');
      const url = 'http://127.0.0.1:1';
      const client = createControlClient({ url, timeoutMs: 1000 });
      const code = await client.listServices().then(() => 'ok', (error) => error.code);
      await client.close();
      let failed;
      const watch = watchMesh({ url, onError: (error) => { failed = error.code; } });
      while (failed === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      await watch.close();
      console.log('done', code, failed);
    `);
    expect(result.output).not.toContain(' imported by ');
    expect(result.output.trim()).toBe('done CONTROL_PLANE_UNAVAILABLE CONTROL_PLANE_UNAVAILABLE');
    expect(result.code).toBe(0);
  });

  it('the hook is real: importing undici is refused', async () => {
    const result = await run(`await import('undici');`);
    expect(result.output).toContain('undici imported by');
    expect(result.code).not.toBe(0);
  });
});
