/**
 * Trellis as a user runs it, for the proxy benchmark: the sources compiled to plain JavaScript and
 * staged as an installed package (bin/, dist/, package.json, the native module npm install built;
 * no src/: `node bin/trellis.js` runs dist/, and edits others make to src/ meanwhile cannot switch
 * it to the TypeScript), a control plane (`trellis start --no-gateway`) that knows the upstream as
 * service `bench` with the route `/` → bench, then `trellis gateway` and `trellis proxy` fed by its
 * watch stream.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { bundleCli } from '../../scripts/bundle.js';
import { freePort, ROOT } from '../lib/processes.ts';

/** Where npm install puts the native modules, inside the package. */
const NATIVE_DIR = 'native/build/Release';
/**
 * The proxies' malloc_trim (src/proxy/malloc-release.ts), busy polling
 * (src/proxy/engine/reply-poller.ts) and execve (bin/relaunch.js).
 */
const NATIVE_MODULES = ['malloc_trim.node', 'busy_poll.node', 'process_exec.node'];

/** The staged package: run `node <dir>/bin/trellis.js`. */
export interface StagedTrellis {
  dir: string;
  bin: string;
  /** tsc's complaints when it emitted despite type errors (others' work in progress), else ''. */
  warnings: string;
}

/**
 * Compiles src/ with tsconfig.build.json into `<parent>/trellis/dist`, bundles the CLI as `npm run
 * build` does, and stages the package around it.
 */
export async function stageTrellis(parent: string): Promise<StagedTrellis> {
  const dir = join(parent, 'trellis');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const tsc = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(dir, 'dist'),
      '--declaration',
      'false',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const output = `${tsc.stdout ?? ''}${tsc.stderr ?? ''}`.trim();
  if (!existsSync(join(dir, 'dist/cli/main.js'))) {
    throw new Error(
      `the build emitted no dist/cli/main.js (tsc exit ${tsc.status}): ${output.slice(0, 500)}`,
    );
  }
  // node_modules first: the bundler resolves the packages it bundles (commander) from there.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  await bundleCli(join(dir, 'dist'));
  for (const file of ['bin/trellis.js', 'bin/relaunch.js']) copyFileSync(join(ROOT, file), join(dir, file));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, NATIVE_DIR), { recursive: true });
  for (const name of NATIVE_MODULES) {
    const addon = join(NATIVE_DIR, name);
    if (!existsSync(join(ROOT, addon))) {
      throw new Error(
        `${addon} is missing: npm install builds it (it needs a C compiler), or node scripts/build-native.js`,
      );
    }
    copyFileSync(join(ROOT, addon), join(dir, addon));
  }
  return { dir, bin: join(dir, 'bin/trellis.js'), warnings: tsc.status === 0 ? '' : output };
}

export const BENCH_SERVICE = 'bench';
export const SIDECAR_SERVICE = 'bench-app';

/** The control plane's API: the upstream as the one instance of `bench`, and the route `/` → bench. */
export async function seedControlPlane(url: string, upstreamPort: number): Promise<void> {
  await post(`${url}/api/v1/instances`, {
    service: BENCH_SERVICE,
    address: '127.0.0.1',
    port: upstreamPort,
  });
  await post(`${url}/api/v1/routes`, {
    name: BENCH_SERVICE,
    service: BENCH_SERVICE,
    match: { path: { prefix: '/' } },
  });
}

/** Command lines (after `node <bin>`) of the Trellis targets. */
export function gatewayArgs(port: number, control: string): string[] {
  return ['gateway', '--port', String(port), '--control', control, '--log-level', 'warn'];
}

export async function sidecarArgs(port: number, control: string, upstreamPort: number): Promise<string[]> {
  return [
    'proxy',
    '--service',
    SIDECAR_SERVICE,
    '--app',
    `127.0.0.1:${upstreamPort}`,
    '--inbound-port',
    String(port),
    '--outbound-port',
    String(await freePort()),
    '--control',
    control,
    // The upstream answers every path; the control plane checks it there.
    '--health-path',
    '/',
    '--log-level',
    'warn',
  ];
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} answered ${response.status}: ${text.slice(0, 300)}`);
}
