/**
 * npm run bench:observability — what observability costs, in one run:
 * 1. proxy: a Trellis gateway (bench/observability/proxy-entry.ts, made with createProxy) in front of
 *    one 1 KiB keep-alive upstream, with tracing (ratio 1, every span exported over OTLP to a real
 *    collector process, `trellis start`) and metrics on, each alone, and both off; wrk at saturation
 *    through each, the proxy pinned alone to one core, the load, the upstream and the collector on
 *    the other (bench/proxy's helpers and pinning). Prints requests/s and proxy CPU per request, each
 *    as a ratio to "both off", and checks that the spans and the metrics really were produced.
 * 2. topology: bench/observability-topology.ts (build time for 500 services and 5,000 edges).
 *
 * Env: QUICK=1 (1 round of 2 s runs), ROUNDS (3), DUR (5 s), WARM (3 s), CONNS (32), CORE_LOAD (0),
 * CORE_PROXY (1), BODY_BYTES (1024), PARTS ("proxy topology"). Progress goes to stderr, the report to
 * stdout. Every process started is stopped by PID at the end.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { cpuNanoseconds, freePort, ROOT, type Started, startProcess } from './lib/processes.ts';
import { createBenchRun, loadSettings, log, QUICK } from './lib/run.ts';
import { fmt, median } from './lib/stats.ts';
import { ensureCommands } from './lib/system.ts';
import { checkBody, type Environment, logTail, startControlPlane, startUpstream } from './proxy/targets.ts';
import { runWrk, stopRunningWrk, type WrkResult, wrkErrors } from './proxy/wrk.ts';

const { ROUNDS, DUR, WARM, CONNS, CORE_LOAD, CORE_PROXY, BODY_BYTES } = loadSettings(3);
const PARTS = new Set((process.env.PARTS ?? 'proxy topology').split(/[\s,]+/));
const READY_TIMEOUT_MS = 30_000;

interface Config {
  id: string;
  label: string;
  tracing: boolean;
  metrics: boolean;
}
const CONFIGS: Config[] = [
  { id: 'off', label: 'tracing and metrics off (baseline)', tracing: false, metrics: false },
  { id: 'metrics', label: 'metrics on', tracing: false, metrics: true },
  { id: 'tracing', label: 'tracing on (ratio 1, OTLP to the collector)', tracing: true, metrics: false },
  { id: 'both', label: '**tracing and metrics on**', tracing: true, metrics: true },
];

interface Proxy {
  config: Config;
  port: number;
  metricsPort: number | undefined;
  started: Started;
}

interface Sample {
  config: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  proxyUsPerReq: number;
  collectorCores: number;
  errors: number;
}

const run = createBenchRun(stopRunningWrk);

async function proxyPart(): Promise<void> {
  ensureCommands({ wrk: 'wrk', nginx: 'nginx', taskset: 'util-linux' }, log);
  const cores = cpus().length;
  if (cores < 2 || Math.max(CORE_LOAD, CORE_PROXY) >= cores || CORE_LOAD === CORE_PROXY) {
    throw new Error(
      `need two distinct cores CORE_LOAD=${CORE_LOAD} CORE_PROXY=${CORE_PROXY} (found ${cores})`,
    );
  }
  const env: Environment = {
    dir: run.tempDir('trellis-bench-observability-'),
    bodyBytes: BODY_BYTES,
    coreLoad: CORE_LOAD,
    coreProxy: CORE_PROXY,
    track: run.track,
  };
  const upstream = await startUpstream(env);
  const control = await startControlPlane(env, join(ROOT, 'bin/trellis.js'));
  log(`up: upstream=${upstream.pid} collector (trellis start)=${control.pid} at ${control.url}`);

  const proxies: Proxy[] = [];
  for (const config of CONFIGS) proxies.push(await startProxy(env, config, upstream.port, control.url));
  log(`proxies: ${proxies.map((p) => `${p.config.id}=${p.started.pid}`).join(' ')}`);

  log(`warm-up ${WARM}s per config`);
  for (const proxy of proxies)
    await runWrk({ url: urlOf(proxy), core: CORE_LOAD, connections: CONNS, seconds: WARM });

  const samples: Sample[] = [];
  // The collector keeps the most recent traces only, so each config's are looked for after its runs.
  const tracesFound = new Map<string, number>();
  for (let round = 1; round <= ROUNDS; round++) {
    const order = proxies.map((_, index) => proxies[(index + round - 1) % proxies.length]!);
    log(`round ${round}/${ROUNDS}: ${order.map((p) => p.config.id).join(' ')}`);
    for (const proxy of order) {
      const proxyBefore = cpuNanoseconds(proxy.started.pid);
      const collectorBefore = cpuNanoseconds(control.pid);
      const { result } = await runWrk({
        url: urlOf(proxy),
        core: CORE_LOAD,
        connections: CONNS,
        seconds: DUR,
      });
      const sample = toSample(
        proxy.config.id,
        result,
        cpuNanoseconds(proxy.started.pid) - proxyBefore,
        cpuNanoseconds(control.pid) - collectorBefore,
      );
      log(
        `  ${proxy.config.id}: ${Math.round(sample.rps)} req/s, p50 ${fmt(sample.p50Ms, 3)} ms, ` +
          `${fmt(sample.proxyUsPerReq, 1)} µs/req, collector ${fmt(sample.collectorCores)} cores`,
      );
      samples.push(sample);
      const found = await tracesOf(control.url, proxy.config);
      tracesFound.set(proxy.config.id, Math.max(found, tracesFound.get(proxy.config.id) ?? 0));
    }
  }

  const checks = await verify(env, proxies, tracesFound);
  console.log(report(samples, checks));
}

async function startProxy(
  env: Environment,
  config: Config,
  upstreamPort: number,
  control: string,
): Promise<Proxy> {
  const port = await freePort();
  const metricsPort = config.metrics ? await freePort() : undefined;
  const args = ['--port', String(port), '--upstream', String(upstreamPort), '--control', control];
  if (config.tracing) args.push('--tracing', '--service', serviceOf(config));
  if (metricsPort !== undefined) args.push('--metrics', '--metrics-port', String(metricsPort));
  const name = `proxy-${config.id}`;
  const child = startProcess(
    'taskset',
    [
      '-c',
      String(env.coreProxy),
      process.execPath,
      '--import',
      'tsx',
      'bench/observability/proxy-entry.ts',
      ...args,
    ],
    { cwd: ROOT, logFile: join(env.dir, `${name}.log`) },
  );
  env.track(child);
  const proxy: Proxy = { config, port, metricsPort, started: child };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      await checkBody(env, { id: 'trellis', port, pid: child.pid });
      return proxy;
    } catch (error) {
      if (child.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${name} not ready: ${(error as Error).message}\n${logTail(env, name)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

interface Checks {
  lines: string[];
  ok: boolean;
}

/**
 * The figures mean something only if the work was done: the traced proxies' spans reached the
 * collector (found by search; the exporter's own count of exported and dropped spans), the metered
 * ones counted their requests, and the others did neither.
 */
async function verify(env: Environment, proxies: Proxy[], tracesFound: Map<string, number>): Promise<Checks> {
  const lines: string[] = [];
  let ok = true;
  for (const proxy of proxies) {
    const { config } = proxy;
    if (config.metrics) {
      const text = await (await fetch(`http://127.0.0.1:${proxy.metricsPort}/metrics`)).text();
      const counted = text
        .split('\n')
        .filter((line) => line.startsWith('trellis_requests_total{'))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
      lines.push(`${config.id}: trellis_requests_total = ${counted}`);
      if (!(counted > 0)) ok = false;
    }
    const total = tracesFound.get(config.id) ?? 0;
    await proxy.started.stop();
    const exporter = /^EXPORTER (.*)$/m.exec(logTail(env, `proxy-${config.id}`, 5))?.[1];
    if (config.tracing) {
      lines.push(`${config.id}: traces found by search ${total}, exporter ${exporter ?? '(no stats)'}`);
      if (!(total > 0) || exporter === undefined) ok = false;
    } else if (total > 0) {
      lines.push(`${config.id}: ${total} traces, expected none`);
      ok = false;
    }
  }
  return { lines, ok };
}

function toSample(config: string, result: WrkResult, proxyCpuNs: number, collectorCpuNs: number): Sample {
  const seconds = result.duration_us / 1e6;
  return {
    config,
    rps: result.requests / seconds,
    p50Ms: result.p50_us / 1000,
    p99Ms: result.p99_us / 1000,
    proxyUsPerReq: proxyCpuNs / 1000 / result.requests,
    collectorCores: collectorCpuNs / 1e9 / seconds,
    errors: wrkErrors(result),
  };
}

function report(samples: Sample[], checks: Checks): string {
  const of = (id: string, pick: (sample: Sample) => number) =>
    median(samples.filter((sample) => sample.config === id).map(pick));
  const baseRps = of('off', (s) => s.rps);
  const baseCpu = of('off', (s) => s.proxyUsPerReq);
  const header = [
    'proxy (1 core, 1 KiB, keep-alive)',
    'req/s',
    'ratio',
    'p50 ms',
    'p99 ms',
    'proxy CPU µs/req',
    'ratio',
    'collector cores',
    'errors',
  ];
  const rows = CONFIGS.map((config) => {
    const rps = of(config.id, (s) => s.rps);
    const cpu = of(config.id, (s) => s.proxyUsPerReq);
    return [
      config.label,
      fmt(rps, 0),
      fmt(rps / baseRps),
      fmt(
        of(config.id, (s) => s.p50Ms),
        3,
      ),
      fmt(
        of(config.id, (s) => s.p99Ms),
        3,
      ),
      fmt(cpu, 1),
      fmt(cpu / baseCpu),
      fmt(of(config.id, (s) => s.collectorCores)),
      String(samples.filter((s) => s.config === config.id).reduce((sum, s) => sum + s.errors, 0)),
    ];
  });
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const both = of('both', (s) => s.rps) / baseRps;
  return [
    `# Observability benchmark: proxy (${QUICK ? 'QUICK' : 'full'}; node ${process.version})`,
    '',
    `${ROUNDS} round(s) of ${DUR} s at saturation (wrk, ${CONNS} connections, core ${CORE_LOAD}); the ` +
      `proxy alone on core ${CORE_PROXY}; the upstream (nginx) and the collector (trellis start) share the load core. Medians.`,
    '',
    line(header),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...rows.map(line),
    '',
    `tracing and metrics on / off: ${fmt(both)}× the requests/s, ` +
      `${fmt(of('both', (s) => s.proxyUsPerReq) / baseCpu)}× the CPU per request`,
    '',
    `checks (${checks.ok ? 'passed' : 'FAILED'}):`,
    ...checks.lines.map((text) => `- ${text}`),
    '',
  ].join('\n');
}

async function tracesOf(control: string, config: Config): Promise<number> {
  const search = await fetch(`${control}/api/v1/traces?service=${serviceOf(config)}&limit=1`);
  return ((await search.json()) as { total: number }).total;
}

function serviceOf(config: Config): string {
  return `bench-gateway-${config.id}`;
}

function urlOf(proxy: Proxy): string {
  return `http://127.0.0.1:${proxy.port}/`;
}

function topologyPart(): void {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', 'bench/observability-topology.ts'],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: process.env,
    },
  );
  if (child.status !== 0)
    throw new Error(`the topology benchmark failed (exit ${child.status ?? child.signal})`);
}

process.on('SIGINT', () => void run.cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void run.cleanup().then(() => process.exit(143)));

try {
  if (PARTS.has('proxy')) await proxyPart();
  await run.cleanup();
  if (PARTS.has('topology')) topologyPart();
} catch (error) {
  console.error(`bench:observability failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await run.cleanup();
}
