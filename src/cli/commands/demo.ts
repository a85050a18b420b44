/**
 * `trellis demo`: a small living mesh on one machine. The control plane and gateway run in this
 * process; five demo services (examples/demo/*.ts) each run beside a `trellis proxy` sidecar, both as
 * child processes; a bounded traffic generator calls the gateway. Ctrl-C stops every child by its PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type { ControlNode } from '../../control/index.ts';
import { loadHttp, packageRoot, parseDuration } from '../../core/index.ts';
import { action, type CliContext } from '../context.ts';
import { durationText, logLevelOption, portNumber } from '../flags.ts';
import { exitOnSignal } from '../shutdown.ts';

interface DemoFlags {
  port: number;
  gatewayPort: number;
  dataDir?: string;
  rate: number;
  duration: string;
  logLevel: string;
}

/** Leaves first, so a caller's callees are up before it takes traffic. */
const SERVICES = [
  { name: 'inventory', note: 'fast' },
  { name: 'payments', note: 'slow: 40-250 ms' },
  { name: 'recommendations', note: 'fails ~10%' },
  { name: 'orders', note: 'calls inventory, payments' },
  { name: 'web', note: 'calls orders, recommendations' },
] as const;

const ROUTES = [
  {
    name: 'orders-api',
    service: 'orders',
    priority: 10,
    match: { path: { prefix: '/api/orders' } },
    stripPrefix: true,
  },
  { name: 'shop', service: 'web', match: { path: { prefix: '/' } } },
];

const ALERT_RULES = [
  {
    name: 'recommendations-errors',
    metric: 'errorRate',
    service: 'recommendations',
    op: '>',
    threshold: 0.05,
    window: '1m',
    for: '20s',
    severity: 'warning',
    description: 'recommendations fails more than 5% of its requests',
  },
  {
    name: 'payments-slow',
    metric: 'p99Latency',
    service: 'payments',
    op: '>',
    threshold: 400,
    window: '1m',
    for: '30s',
    severity: 'info',
    description: 'payments p99 above 400 ms',
  },
];

const MAX_DURATION_MS = 30 * 60_000;
const MAX_RATE = 200;
const STOP_TIMEOUT_MS = 8_000;
const PROGRESS_MS = 5_000;

const ROOT = packageRoot(import.meta.url);
const TRELLIS_BIN = fileURLToPath(new URL('bin/trellis.js', ROOT));
const DEMO_DIR = fileURLToPath(new URL('examples/demo/', ROOT));

export function demoCommand(ctx: CliContext): Command {
  return new Command('demo')
    .description(
      'run a small mesh to look at: control plane, dashboard, gateway, five services with sidecars, and ' +
        'traffic (at most 30 minutes), until Ctrl-C',
    )
    .option('--port <port>', 'control plane and dashboard port (0 picks a free one)', portNumber, 7400)
    .option('--gateway-port <port>', 'gateway port (0 picks a free one)', portNumber, 7480)
    .option('--data-dir <dir>', 'embedded store directory (default: a temporary one, removed at exit)')
    .option('--rate <n>', `requests per second to the gateway, 0-${MAX_RATE}`, rate, 20)
    .option('--duration <duration>', 'how long traffic runs, at most 30m', durationText, '30m')
    .addOption(logLevelOption('warn', 'log level of the control plane and sidecars'))
    .action(action(ctx, (flags: DemoFlags) => runDemo(ctx, flags)));
}

function rate(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n > MAX_RATE) {
    throw new InvalidArgumentError(`expected requests per second from 0 to ${MAX_RATE}`);
  }
  return n;
}

interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<void>;
  output(): string;
}

async function runDemo(ctx: CliContext, flags: DemoFlags): Promise<void> {
  const durationMs = Math.min(parseDuration(flags.duration), MAX_DURATION_MS);
  const [{ trellisConfig, validate }, { startControlNode }, { pino }] = await Promise.all([
    import('../../config/index.ts'),
    import('../../control/index.ts'),
    import('pino'),
  ]);
  const logger = pino({ level: flags.logLevel }, pino.destination(2));
  const shutdown = exitOnSignal(ctx, logger, STOP_TIMEOUT_MS * 2 + 10_000);
  const children: Started[] = [];
  const dataDir = flags.dataDir ?? (await mkdtemp(join(tmpdir(), 'trellis-demo-')));
  let node: ControlNode | undefined;
  let traffic: Traffic | undefined;

  const stop = async () => {
    traffic?.stop();
    await Promise.all(children.map((child) => stopChild(child)));
    await node?.close();
    if (!flags.dataDir) await rm(dataDir, { recursive: true, force: true });
    ctx.stdout('\ntrellis demo stopped: every process it started has exited\n');
  };

  try {
    const config = validate(trellisConfig, {
      control: { host: '127.0.0.1', port: flags.port, dataDir },
      gateway: { port: flags.gatewayPort },
      routes: ROUTES,
      alerts: { evaluationInterval: '2s', rules: ALERT_RULES },
    });
    node = await startControlNode(config, { logger });
    const gateway = node.gateway!;
    ctx.stdout(
      `trellis demo\n  control plane: ${node.url} (store in ${dataDir})\n  gateway:       ${gateway.url}\n`,
    );

    for (const service of SERVICES) {
      const appPort = await freePort();
      const sidecar = spawnTracked(
        `${service.name} sidecar`,
        [
          TRELLIS_BIN,
          'proxy',
          '--service',
          service.name,
          '--app',
          `127.0.0.1:${appPort}`,
          '--inbound-port',
          '0',
          '--outbound-port',
          '0',
          '--control',
          node.url,
          '--check-interval',
          '1s',
          '--version',
          '1.0.0',
          '--zone',
          'local',
          '--log-level',
          flags.logLevel,
        ],
        {},
        children,
      );
      const [, inbound] = await waitFor(sidecar, /inbound: +(\S+)/);
      const [, outbound] = await waitFor(sidecar, /outbound: +(\S+)/);
      const app = spawnTracked(
        `${service.name} app`,
        ['--import', import.meta.resolve('tsx'), join(DEMO_DIR, `${service.name}.ts`)],
        { PORT: String(appPort), MESH_OUTBOUND: outbound! },
        children,
      );
      await waitFor(app, /"port":\d+/);
      ctx.stdout(
        `  ${service.name.padEnd(16)} app 127.0.0.1:${appPort} (pid ${app.pid}) · sidecar in ${inbound} out ${outbound} (pid ${sidecar.pid}) · ${service.note}\n`,
      );
    }

    await warmUp(gateway.url);
    traffic = startTraffic(gateway.url, flags.rate, durationMs, ctx);
    ctx.stdout(
      `  traffic:       ${flags.rate} req/s to ${gateway.url}/ and /api/orders for ${formatDuration(durationMs)}\n` +
        `  children:      ${children.map((child) => child.pid).join(' ')}\n` +
        `dashboard: ${node.url}/\n` +
        'Ctrl-C stops everything.\n',
    );
  } catch (error) {
    await stop();
    throw error;
  }
  shutdown.started({ close: stop });
}

function spawnTracked(name: string, args: string[], env: Record<string, string>, into: Started[]): Started {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TRELLIS_')) environment[key] = value;
  }
  const child = spawn(process.execPath, args, {
    env: { ...environment, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start the ${name}`);
  let output = '';
  const collect = (chunk: string) => {
    output = (output + chunk).slice(-16_000);
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  // The children's warnings and errors are the demo's too.
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    collect(chunk);
    process.stderr.write(chunk);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = { name, pid: child.pid, child, exited, output: () => output };
  into.push(started);
  return started;
}

async function waitFor(child: Started, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(child.output());
    if (match) return match;
    if (child.child.exitCode !== null || child.child.signalCode !== null) {
      throw new Error(`the ${child.name} exited before it was ready:\n${child.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`the ${child.name} was not ready in time:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function stopChild(child: Started): Promise<void> {
  if (child.child.exitCode !== null || child.child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      resolve();
    }, STOP_TIMEOUT_MS);
  });
  await Promise.race([child.exited, late]);
  clearTimeout(timer);
  await child.exited;
}

/** Waits (at most 20 s) until the gateway serves the shop, so the first requests do not fail for nothing. */
async function warmUp(gatewayUrl: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const answer = await fetch(`${gatewayUrl}/`);
      await answer.arrayBuffer();
      if (answer.ok) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Traffic {
  stop(): void;
}

/** Calls the gateway `perSecond` times a second (at most 64 at once) until `durationMs` is over. */
function startTraffic(gatewayUrl: string, perSecond: number, durationMs: number, ctx: CliContext): Traffic {
  const { hostname, port } = new URL(gatewayUrl);
  // Loaded here, not imported: every command shares this module's chunk, and a proxy needs no node:http.
  const { Agent, request } = loadHttp();
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const startedAt = Date.now();
  const counts = { sent: 0, ok: 0, failed: 0, inFlight: 0 };
  let lastSent = 0;
  let lastAt = startedAt;
  const live = process.stdout.isTTY === true;

  const fire = () => {
    if (counts.inFlight >= 64) return;
    counts.sent += 1;
    counts.inFlight += 1;
    const path = counts.sent % 5 === 0 ? '/api/orders' : '/';
    const done = (ok: boolean) => {
      counts.inFlight -= 1;
      if (ok) counts.ok += 1;
      else counts.failed += 1;
    };
    const outgoing = request(
      { host: hostname, port: Number(port), path, agent, timeout: 10_000 },
      (answer) => {
        answer.resume();
        answer.on('end', () => done((answer.statusCode ?? 500) < 500));
        answer.on('error', () => done(false));
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', () => done(false));
    outgoing.end();
  };

  const progress = () => {
    const now = Date.now();
    const rps = ((counts.sent - lastSent) * 1000) / Math.max(now - lastAt, 1);
    lastSent = counts.sent;
    lastAt = now;
    const left = Math.max(durationMs - (now - startedAt), 0);
    const line =
      `traffic: ${counts.sent} requests, ${counts.failed} failed, ${rps.toFixed(1)} req/s, ` +
      `${formatDuration(left)} left`;
    ctx.stdout(live ? `\r${line.padEnd(78)}` : `${line}\n`);
  };

  const interval = perSecond > 0 ? setInterval(fire, 1000 / perSecond) : undefined;
  const reporter = setInterval(progress, PROGRESS_MS);
  const end = setTimeout(() => {
    stop();
    progress();
    ctx.stdout('\ntraffic finished; the mesh keeps running until Ctrl-C\n');
  }, durationMs);

  function stop() {
    clearInterval(interval);
    clearInterval(reporter);
    clearTimeout(end);
    agent.destroy();
  }
  return { stop };
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}
