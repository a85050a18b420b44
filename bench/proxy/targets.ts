import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relaunchEnvironment } from '../../bin/relaunch.js';
import { freePort, ROOT, rssMiB, type Started, startProcess } from '../lib/processes.ts';
import { gatewayArgs, sidecarArgs } from './trellis.ts';

/** Every configuration the benchmark knows, in the order of its table. */
export const TARGET_IDS = [
  'direct',
  'haproxy',
  'nginx',
  'http-proxy',
  'fastify',
  'node-floor',
  'trellis',
  'sidecar',
  'sidecar-nopoll',
] as const;
export type TargetId = (typeof TARGET_IDS)[number];
/** The targets that are Trellis: judged against the issue's targets, reported (not fatal) when they fail. */
export const TRELLIS_IDS: readonly TargetId[] = ['trellis', 'sidecar', 'sidecar-nopoll'];

export const LABELS: Record<TargetId, string> = {
  direct: 'direct (no proxy)',
  haproxy: 'HAProxy (nbthread 1)',
  nginx: 'nginx (1 worker)',
  'http-proxy': 'http-proxy + keep-alive agent',
  fastify: '@fastify/http-proxy',
  'node-floor': "Node's floor: a bare raw-socket relay",
  trellis: '**Trellis gateway**',
  sidecar: '**Trellis sidecar** (inbound)',
  'sidecar-nopoll': 'Trellis sidecar, `--busy-poll 0`',
};

/** One thing wrk is pointed at: the upstream itself (direct) or a proxy in front of it. */
export interface Target {
  id: TargetId;
  port: number;
  /** The proxy's process (absent for direct). */
  pid?: number;
  /** Trellis's Prometheus endpoint, scraped during the paced runs as Prometheus would. */
  metricsUrl?: string;
}

export interface Environment {
  /** Temporary folder for rendered configurations, logs and nginx's temp paths. */
  dir: string;
  bodyBytes: number;
  coreLoad: number;
  coreProxy: number;
  /** Every started process is handed here, to be stopped by PID at the end. */
  track(started: Started): void;
  /** The staged Trellis package and its control plane, once started (see trellis.ts). */
  trellis?: { bin: string; control: string };
}

const CONF = fileURLToPath(new URL('./conf/', import.meta.url));
const NODE_PROXIES: Partial<Record<TargetId, string>> = {
  'http-proxy': 'bench/proxy/http-proxy.ts',
  fastify: 'bench/proxy/fastify-proxy.ts',
};
const READY_TIMEOUT_MS = 20_000;

export interface Upstream {
  port: number;
  pid: number;
}

/** nginx, one process, `return 200` with a fixed body over keep-alive, pinned to the load core. */
export async function startUpstream(env: Environment): Promise<Upstream> {
  const port = await freePort();
  const conf = render(env, 'upstream-nginx.conf.tmpl', port, port);
  const started = startTracked(env, 'upstream', 'taskset', [
    '-c',
    String(env.coreLoad),
    'nginx',
    '-p',
    env.dir,
    '-e',
    join(env.dir, 'upstream-nginx.err'),
    '-c',
    conf,
  ]);
  await waitReady(env, 'upstream', started, port);
  return { port, pid: started.pid };
}

/** Starts one target pinned to the proxy core, and waits until it answers 200. */
export async function startTarget(env: Environment, id: TargetId, upstream: Upstream): Promise<Target> {
  if (id === 'direct') return { id, port: upstream.port };
  const port = await freePort();
  const pin = ['-c', String(env.coreProxy)];
  let started: Started;
  let metricsUrl: string | undefined;
  if (id === 'haproxy') {
    const conf = render(env, 'proxy-haproxy.cfg.tmpl', port, upstream.port);
    started = startTracked(env, id, 'taskset', [...pin, 'haproxy', '-db', '-f', conf]);
  } else if (id === 'nginx') {
    const conf = render(env, 'proxy-nginx.conf.tmpl', port, upstream.port);
    const errorLog = join(env.dir, 'proxy-nginx.err');
    started = startTracked(env, id, 'taskset', [...pin, 'nginx', '-p', env.dir, '-e', errorLog, '-c', conf]);
  } else if (id === 'node-floor') {
    // With the heap settings, the one V8 background thread and the environment Trellis's proxies
    // start with (bin/trellis.js, bin/relaunch.js: no NODE_EXTRA_CA_CERTS for Node to parse at
    // start), so that the memory between the two is Trellis's own.
    const floorEnv = relaunchEnvironment({ execArgv: [], env: process.env });
    started = startTracked(
      env,
      id,
      'taskset',
      [
        ...pin,
        process.execPath,
        '--v8-pool-size=1',
        '--semi-space-growth-factor=1',
        '--no-flush-bytecode',
        '--incremental-marking-hard-trigger=5',
        'bench/proxy/node-floor.mjs',
        '--port',
        String(port),
        '--upstream',
        `127.0.0.1:${upstream.port}`,
      ],
      floorEnv,
    );
  } else if (TRELLIS_IDS.includes(id)) {
    const trellis = env.trellis;
    if (trellis === undefined) throw new Error('no Trellis control plane');
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const args = [
      ...(id === 'trellis'
        ? gatewayArgs(port, trellis.control)
        : await sidecarArgs(port, trellis.control, upstream.port)),
      '--metrics-port',
      String(metricsPort),
      // The same sidecar without busy polling, to show what polling buys and costs in the same run.
      ...(id === 'sidecar-nopoll' ? ['--busy-poll', '0'] : []),
    ];
    started = startTracked(env, id, 'taskset', [...pin, process.execPath, trellis.bin, ...args]);
  } else {
    const script = NODE_PROXIES[id]!;
    const args = ['--port', String(port), '--upstream', `127.0.0.1:${upstream.port}`];
    started = startTracked(env, id, 'taskset', [
      ...pin,
      process.execPath,
      '--import',
      'tsx',
      script,
      ...args,
    ]);
  }
  try {
    await waitReady(env, id, started, port);
  } catch (error) {
    await started.stop();
    throw error;
  }
  return { id, port, pid: started.pid, metricsUrl };
}

/**
 * `trellis start --no-gateway` from the staged package, on the load core (it only serves the watch
 * streams and checks the sidecar's app); resolves once its API answers.
 */
export async function startControlPlane(
  env: Environment,
  bin: string,
): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const dataDir = join(env.dir, 'control-data');
  const started = startTracked(env, 'control', 'taskset', [
    '-c',
    String(env.coreLoad),
    process.execPath,
    bin,
    'start',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--no-gateway',
    '--log-level',
    'warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(env, 'control', started, port, '/api/v1/health');
  } catch (error) {
    await started.stop();
    throw error;
  }
  return { url, pid: started.pid };
}

const IDLE_SERVER =
  "import{createServer}from'node:http';createServer((q,s)=>s.end('ok')).listen(Number(process.argv[1]),'127.0.0.1');" +
  "process.on('SIGTERM',()=>process.exit(0))";

/**
 * RSS of an idle node:http server that has answered one request, under plain node and under
 * `--import tsx` (how the Node proxies here run): the floor under every Node proxy's RSS.
 */
export async function idleNodeRss(env: Environment): Promise<{ plainMiB: number; tsxMiB: number }> {
  const measure = async (name: string, args: (port: number) => string[]) => {
    const port = await freePort();
    const started = startTracked(env, name, 'taskset', [
      '-c',
      String(env.coreProxy),
      process.execPath,
      ...args(port),
    ]);
    try {
      await waitReady(env, name, started, port);
      await new Promise((resolve) => setTimeout(resolve, 500));
      return rssMiB(started.pid);
    } finally {
      await started.stop();
    }
  };
  return {
    plainMiB: await measure('idle-node', (port) => ['--input-type=module', '-e', IDLE_SERVER, String(port)]),
    tsxMiB: await measure('idle-node-tsx', (port) => [
      '--import',
      'tsx',
      'bench/proxy/idle-server.ts',
      String(port),
    ]),
  };
}

/** Throws unless the target answers a path with a query with 200 and exactly the upstream's body. */
export async function checkBody(env: Environment, target: Target): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${target.port}/some/path?x=1`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = await response.arrayBuffer();
  if (response.status !== 200 || body.byteLength !== env.bodyBytes) {
    throw new Error(
      `${target.id} answered ${response.status} with ${body.byteLength} bytes, expected 200 with ${env.bodyBytes}`,
    );
  }
}

export function logTail(env: Environment, name: string, lines = 15): string {
  try {
    const text = readFileSync(logPath(env, name), 'utf8').trim();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function logPath(env: Environment, name: string): string {
  return join(env.dir, `${name}.log`);
}

function startTracked(
  env: Environment,
  name: string,
  command: string,
  args: string[],
  processEnv?: NodeJS.ProcessEnv,
): Started {
  const started = startProcess(command, args, { cwd: ROOT, logFile: logPath(env, name), env: processEnv });
  env.track(started);
  return started;
}

function render(env: Environment, template: string, port: number, upstreamPort: number): string {
  const out = join(env.dir, template.replace(/\.tmpl$/, ''));
  const text = readFileSync(join(CONF, template), 'utf8')
    .replaceAll('@RUN@', env.dir)
    .replaceAll('@PORT@', String(port))
    .replaceAll('@UPSTREAM_PORT@', String(upstreamPort))
    .replaceAll('@BODY@', 'x'.repeat(env.bodyBytes));
  writeFileSync(out, text);
  return out;
}

async function waitReady(
  env: Environment,
  name: string,
  started: Started,
  port: number,
  path = '/',
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) {
      const tail = logTail(env, name);
      throw new Error(
        `${name} exited (${started.child.exitCode ?? started.child.signalCode})${tail ? `:\n${tail}` : ''}`,
      );
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `answered ${response.status}`;
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string } }).cause;
      last = cause?.code ?? (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = logTail(env, name);
  throw new Error(
    `${name} not ready on :${port} within ${READY_TIMEOUT_MS} ms (${last})${tail ? `:\n${tail}` : ''}`,
  );
}
