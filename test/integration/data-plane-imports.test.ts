/**
 * What a sidecar or gateway loads carries none of the packages whose import alone costs a proxy
 * megabytes of resident memory (undici ~21 MiB, zod ~14, prom-client ~10, pino ~7; issue 3's budget
 * is 60 MB), nor node:http (~2 MiB; the proxies speak HTTP/1.1 to their control plane and scrapers
 * with their own parser), nor the Node built-ins that only some configurations use, which the proxies
 * load on first use (src/core/lazy-builtins.ts: node:http2 ~2.5 MiB, node:https and TLS, node:zlib,
 * node:crypto): a real Node process loads the data plane's modules, and uses the control-plane
 * client as a proxy does, under a resolve hook that refuses them. Type-only imports are erased and
 * do not count, nor do the lazy loads, which go through require.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createControlClient } from '../../src/client/index.ts';
import { eventually, startTestControl } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { spawnChild, stopChild, TRELLIS_BIN, waitForOutput } from '../helpers/processes.ts';
import { request } from './proxy-helpers.ts';

const REFUSED = [
  'undici',
  'zod',
  'prom-client',
  'pino',
  'node:http',
  'node:http2',
  'node:https',
  'node:tls',
  'node:zlib',
  'node:crypto',
];

const HOOK = `const refused = ${JSON.stringify(REFUSED)};
export async function resolve(specifier, context, next) {
  if (refused.some((name) => specifier === name || specifier.startsWith(name + '/'))) {
    throw new Error(specifier + ' imported by ' + context.parentURL);
  }
  return next(specifier, context);
}
`;

/** Everything `trellis proxy` and `trellis gateway` load before they serve (commands load lazily). */
const DATA_PLANE = [
  'src/cli/program.ts',
  'src/cli/commands/proxy.ts',
  'src/cli/commands/gateway.ts',
  'src/proxy/index.ts',
  'src/proxy/workers/pool.ts',
  'src/telemetry/exposition/index.ts',
  'src/telemetry/proxy-metrics.ts',
  'src/telemetry/process-metrics.ts',
  'src/client/index.ts',
  'src/core/index.ts',
];

interface Run {
  code: number | null;
  output: string;
}

describe('the data plane without undici, zod, prom-client, pino or the built-ins it loads on demand', () => {
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

  const script = (code: string) => ['--input-type=module', '-e', code];
  const importAll = (modules: readonly string[]) =>
    script(
      `${modules.map((module) => `await import(${JSON.stringify(`./${module}`)});`).join('\n')}\nconsole.log('loaded');`,
    );

  it('loads the CLI commands, the proxies, their metrics, the worker pool and the client', async () => {
    const result = await run(importAll(DATA_PLANE));
    expect(result.output).not.toContain(' imported by ');
    expect(result.output.trim()).toBe('loaded');
    expect(result.code).toBe(0);
  });

  it("loads a worker's entry (which refuses to run outside a worker, after its imports)", async () => {
    const result = await run(['src/proxy/workers/worker-main.ts']);
    expect(result.output).not.toContain(' imported by ');
    expect(result.output).toContain('runs as a worker forked by the proxy worker pool');
  });

  it("makes a request and a watch with the control-plane client over the proxies' transport", async () => {
    // Against a port nothing listens on: every code path's imports load.
    const result = await run(
      script(`
      const { createControlClient, watchMesh } = await import('./src/client/index.ts');
      const { createHttp1Transport: transport } = await import('./src/proxy/index.ts');
      const url = 'http://127.0.0.1:1';
      const client = createControlClient({ url, timeoutMs: 1000, transport });
      const code = await client.listServices().then(() => 'ok', (error) => error.code);
      await client.close();
      let failed;
      const watch = watchMesh({ url, transport, onError: (error) => { failed = error.code; } });
      while (failed === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      await watch.close();
      console.log('done', code, failed);
    `),
    );
    expect(result.output).not.toContain(' imported by ');
    expect(result.output.trim()).toBe('done CONTROL_PLANE_UNAVAILABLE CONTROL_PLANE_UNAVAILABLE');
    expect(result.code).toBe(0);
  });

  it('refuses node:http to the default transport, which loads it on first use', async () => {
    const result = await run(
      script(`
      const { createControlClient } = await import('./src/client/index.ts');
      const client = createControlClient({ url: 'http://127.0.0.1:1', timeoutMs: 1000 });
      console.log(await client.listServices().then(() => 'ok', (error) => error.message));
    `),
    );
    expect(result.output).toContain('node:http imported by file://');
  });

  it.each([
    ['src/telemetry/control-metrics.ts', 'prom-client'],
    ['src/config/index.ts', 'zod'],
    ['src/telemetry/access-log.ts', 'pino'],
    ['src/telemetry/tracing/otlp-decode.ts', 'node:zlib'],
  ])('the hook is real: %s imports %s', async (module, name) => {
    const result = await run(importAll([module]));
    expect(result.output).toContain(`${name} imported by file://`);
    expect(result.code).not.toBe(0);
  });
});

describe('a running sidecar', () => {
  it('registers, watches, exports spans, is scraped and deregisters without ever loading node:http', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-sidecar-modules-'));
    const listFile = join(dir, 'modules.txt');
    const atExit = join(dir, 'modules-at-exit.mjs');
    await writeFile(
      atExit,
      `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(listFile)}, process.moduleLoadList.join('\\n')));\n`,
    );
    // The app: any TCP server answering 200 serves as the health check's target.
    const app = createServer((socket) =>
      socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')),
    );
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as { port: number }).port;
    const control = await startTestControl();
    const client = createControlClient({ url: control.url });
    const [inbound, outbound, metrics] = [await freePort(), await freePort(), await freePort()];
    const sidecar = spawnChild([
      '--import',
      atExit,
      TRELLIS_BIN,
      'proxy',
      ...['--service', 'api', '--app', `127.0.0.1:${appPort}`, '--control', control.url],
      ...['--inbound-port', String(inbound), '--outbound-port', String(outbound)],
      ...['--metrics-port', String(metrics), '--sample-ratio', '1', '--check-interval', '200ms'],
    ]);
    try {
      await waitForOutput(sidecar, /\(registered\)/);
      // Through the outbound side to its own service: the watch delivered the instance.
      await eventually(
        async () => (await request(outbound, 'GET', '/', { headers: { host: 'api' } })).status === 200,
        15_000,
      );
      expect((await fetch(`http://127.0.0.1:${metrics}/metrics`)).status).toBe(200);
      // Sampled spans reach the control plane's collector.
      await eventually(async () => {
        const traces = await fetch(`${control.url}/api/v1/traces?service=api`).then((r) => r.json());
        return (
          (traces as { traces?: unknown[] }).traces?.length !== undefined &&
          (traces as { traces: unknown[] }).traces.length > 0
        );
      }, 15_000);
      await stopChild(sidecar);
      expect((await client.listInstances({ service: 'api' })).instances).toEqual([]);
      const modules = (await readFile(listFile, 'utf8')).split('\n');
      expect(modules).toContain('NativeModule net');
      expect(modules.filter((name) => /^NativeModule _?http(s|2)?(_|$)/.test(name))).toEqual([]);
    } finally {
      await stopChild(sidecar, 'SIGKILL');
      await client.close();
      await control.close();
      await new Promise((resolve) => app.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
