/**
 * npm run bench:registry — the control plane's registry under load, measured in one run:
 *   1. registrations/s (memory store and etcd store) against raw etcd puts/s as the baseline;
 *   2. discovery latency p50/p99 with 10,000 instances registered, against GET /healthz;
 *   3. change propagation p50/p99 to 500 watch (SSE) subscribers, against a raw etcd watch;
 *   4. control-plane CPU while HTTP-checking 5,000 instances every 5 s.
 * Everything runs on 127.0.0.1 and stops by itself. QUICK=1 shrinks every phase for a smoke run.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { Pool } from 'undici';
import { cpuSeconds, freePort, rssMiB, type Started, startProcess, waitForHttp } from './lib/processes.ts';
import { fmt, percentile } from './lib/stats.ts';

const QUICK = process.env.QUICK === '1';
const INSTANCES = QUICK ? 2_000 : 10_000;
const SERVICES = 100;
const CONCURRENCY = 64;
const DISCOVERY_REQUESTS = QUICK ? 500 : 2_000;
const SUBSCRIBERS = QUICK ? 100 : 500;
const CHANGES = QUICK ? 20 : 50;
const CHECKED_INSTANCES = QUICK ? 1_000 : 5_000;
const CHECK_INTERVAL = '5s';
const CPU_WINDOW_MS = QUICK ? 6_000 : 15_000;

const cleanups: Array<() => Promise<void> | void> = [];

async function main(): Promise<void> {
  const etcd = await startEtcd();
  const rows: string[][] = [];
  console.log(`# Registry benchmark (${QUICK ? 'QUICK' : 'full'}; node ${process.version})\n`);

  const rawPutsPerSecond = await rawEtcdPuts(etcd.endpoint, INSTANCES);
  const rawWatch = await rawEtcdWatchLatency(etcd.endpoint, CHANGES);

  const memory = await startControlPlane('memory');
  const memoryRate = await registerMany(memory.url, INSTANCES);
  const discovery = await discoveryLatency(memory.url);
  const propagation = await propagationLatency(memory.url);
  await memory.stop();

  const onEtcd = await startControlPlane(`etcd://${etcd.endpoint}`);
  const etcdRate = await registerMany(onEtcd.url, INSTANCES);
  await onEtcd.stop();

  const checking = await checkingCpu();

  rows.push(['raw etcd put (baseline)', `${fmt(rawPutsPerSecond, 0)} puts/s`, '1.00']);
  rows.push(['register, embedded store', `${fmt(memoryRate, 0)} reg/s`, fmt(memoryRate / rawPutsPerSecond)]);
  rows.push(['register, etcd store', `${fmt(etcdRate, 0)} reg/s`, fmt(etcdRate / rawPutsPerSecond)]);
  printTable(
    'Registrations (64 concurrent clients; ratio to raw etcd puts)',
    ['what', 'rate', 'ratio'],
    rows,
  );

  printTable(
    `Discovery with ${INSTANCES} instances in ${SERVICES} services (sequential; ratio to GET /healthz)`,
    ['request', 'p50 ms', 'p99 ms', 'p50 ratio'],
    [
      ['GET /healthz (baseline)', fmt(discovery.floor.p50, 3), fmt(discovery.floor.p99, 3), '1.00'],
      [
        `GET /api/v1/services/:name/instances (${INSTANCES / SERVICES} each)`,
        fmt(discovery.service.p50, 3),
        fmt(discovery.service.p99, 3),
        fmt(discovery.service.p50 / discovery.floor.p50),
      ],
      [
        'GET /api/v1/mesh/v2/discover/:name',
        fmt(discovery.seed.p50, 3),
        fmt(discovery.seed.p99, 3),
        fmt(discovery.seed.p50 / discovery.floor.p50),
      ],
      [
        `GET /api/v1/instances (all ${INSTANCES})`,
        fmt(discovery.all.p50, 3),
        fmt(discovery.all.p99, 3),
        fmt(discovery.all.p50 / discovery.floor.p50),
      ],
    ],
  );

  printTable(
    `Change propagation: register -> event at each of ${SUBSCRIBERS} SSE subscribers (${CHANGES} changes)`,
    ['path', 'p50 ms', 'p99 ms', 'max ms'],
    [
      [
        'raw etcd watch, 1 watcher (baseline)',
        fmt(rawWatch.p50, 3),
        fmt(rawWatch.p99, 3),
        fmt(rawWatch.max, 3),
      ],
      [
        `trellis SSE, ${SUBSCRIBERS} subscribers`,
        fmt(propagation.p50, 3),
        fmt(propagation.p99, 3),
        fmt(propagation.max, 3),
      ],
    ],
  );

  printTable(
    `Health checking ${CHECKED_INSTANCES} instances every ${CHECK_INTERVAL} (HTTP checks, embedded store)`,
    ['figure', 'value'],
    [
      ['checks answered per second', fmt(checking.checksPerSecond, 0)],
      ['control-plane CPU, % of one core', fmt(checking.cpuPercent, 1)],
      ['CPU per 1,000 checks, ms', fmt(checking.cpuMsPer1000Checks, 1)],
      ['control-plane RSS, MiB', fmt(checking.rssMiB, 0)],
    ],
  );
}

function printTable(title: string, header: string[], rows: string[][]): void {
  console.log(`## ${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log('');
}

async function startEtcd(): Promise<{ endpoint: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const etcd = startProcess('/usr/bin/etcd', [
    '--log-level',
    'error',
    '--data-dir',
    dir,
    '--listen-client-urls',
    `http://127.0.0.1:${clientPort}`,
    '--advertise-client-urls',
    `http://127.0.0.1:${clientPort}`,
    '--listen-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peerPort}`,
    '--initial-cluster',
    `default=http://127.0.0.1:${peerPort}`,
  ]);
  cleanups.push(async () => {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForHttp(`http://127.0.0.1:${clientPort}/health`);
  return { endpoint: `127.0.0.1:${clientPort}` };
}

async function startControlPlane(
  store: string,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-cp-'));
  const port = await freePort();
  const started: Started = startProcess(process.execPath, [
    'bin/trellis.js',
    'start',
    '--port',
    String(port),
    '--data-dir',
    dir,
    '--store',
    store,
    '--log-level',
    'warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await started.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.push(stop);
  await waitForHttp(`${url}/readyz`);
  return { url, pid: started.pid, stop };
}

async function runConcurrently(total: number, concurrency: number, task: (index: number) => Promise<void>) {
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < total) await task(next++);
  });
  await Promise.all(workers);
}

async function rawEtcdPuts(endpoint: string, count: number): Promise<number> {
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  const started = performance.now();
  await runConcurrently(count, CONCURRENCY, async (index) => {
    await client
      .put(`/bench/raw/${index}`)
      .value(JSON.stringify({ index, address: '127.0.0.1', port: index }));
  });
  const rate = count / ((performance.now() - started) / 1000);
  await client.delete().prefix('/bench/raw/');
  client.close();
  return rate;
}

async function rawEtcdWatchLatency(endpoint: string, changes: number) {
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  const watcher = await client.watch().prefix('/bench/watch/').create();
  watcher.on('put', (kv) => {
    const key = kv.key.toString();
    const sent = sentAt.get(key);
    if (sent !== undefined) samples.push(performance.now() - sent);
  });
  for (let index = 0; index < changes; index++) {
    const key = `/bench/watch/${index}`;
    sentAt.set(key, performance.now());
    await client.put(key).value('x');
    await sleep(20);
  }
  await sleep(200);
  await watcher.cancel();
  client.close();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) };
}

function instanceBody(index: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    service: `svc-${index % SERVICES}`,
    address: '127.0.0.1',
    port: 10_000 + (index % 50_000),
    id: `bench-${index}`,
    tags: ['bench'],
    metadata: { zone: 'a' },
    ...extra,
  });
}

async function registerMany(url: string, count: number): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY });
  const started = performance.now();
  await runConcurrently(count, CONCURRENCY, async (index) => {
    const response = await pool.request({
      method: 'POST',
      path: '/api/v1/instances',
      headers: { 'content-type': 'application/json' },
      body: instanceBody(index),
    });
    await response.body.dump();
    if (response.statusCode !== 201) throw new Error(`register answered ${response.statusCode}`);
  });
  const rate = count / ((performance.now() - started) / 1000);
  await pool.close();
  return rate;
}

async function timeRequests(pool: Pool, count: number, path: (index: number) => string) {
  const samples: number[] = [];
  for (let index = 0; index < count; index++) {
    const started = performance.now();
    const response = await pool.request({ method: 'GET', path: path(index) });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`${path(index)} answered ${response.statusCode}`);
    samples.push(performance.now() - started);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function discoveryLatency(url: string) {
  const pool = new Pool(url, { connections: 1 });
  await timeRequests(pool, 200, () => '/healthz'); // warm-up
  const floor = await timeRequests(pool, DISCOVERY_REQUESTS, () => '/healthz');
  const service = await timeRequests(
    pool,
    DISCOVERY_REQUESTS,
    (i) => `/api/v1/services/svc-${i % SERVICES}/instances`,
  );
  const seed = await timeRequests(
    pool,
    DISCOVERY_REQUESTS,
    (i) => `/api/v1/mesh/v2/discover/svc-${i % SERVICES}`,
  );
  const all = await timeRequests(pool, QUICK ? 50 : 200, () => '/api/v1/instances');
  await pool.close();
  return { floor, service, seed, all };
}

/** Opens SSE subscribers, then registers instances one at a time and times each arrival. */
async function propagationLatency(url: string) {
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  const { port } = new URL(url);
  let ready = 0;
  const requests = Array.from({ length: SUBSCRIBERS }, () => {
    const request = httpRequest(
      { host: '127.0.0.1', port, path: '/api/v1/watch', agent: false },
      (response) => {
        ready++;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const now = performance.now();
          for (const match of chunk.matchAll(/"id":"(prop-\d+)"/g)) {
            const sent = sentAt.get(match[1]!);
            if (sent !== undefined) samples.push(now - sent);
          }
        });
      },
    );
    request.end();
    return request;
  });
  while (ready < SUBSCRIBERS) await sleep(20);
  await sleep(500); // let every snapshot drain
  const pool = new Pool(url, { connections: 1 });
  for (let index = 0; index < CHANGES; index++) {
    const id = `prop-${index}`;
    sentAt.set(id, performance.now());
    const response = await pool.request({
      method: 'POST',
      path: '/api/v1/instances',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'propagation', address: '127.0.0.1', port: 20_000 + index, id }),
    });
    await response.body.dump();
    await sleep(50);
  }
  await sleep(1000);
  for (const request of requests) request.destroy();
  await pool.close();
  const expected = SUBSCRIBERS * CHANGES;
  if (samples.length < expected) console.warn(`propagation: ${samples.length} of ${expected} events arrived`);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), max: Math.max(...samples) };
}

async function checkingCpu() {
  let checks = 0;
  const target = createServer((_request, response) => {
    checks++;
    response.end('ok');
  });
  target.keepAliveTimeout = 60_000;
  const targetPort = await freePort();
  await new Promise<void>((resolve) => target.listen(targetPort, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => target.close(() => resolve())));

  const control = await startControlPlane('memory');
  const pool = new Pool(control.url, { connections: CONCURRENCY });
  await runConcurrently(CHECKED_INSTANCES, CONCURRENCY, async (index) => {
    const response = await pool.request({
      method: 'POST',
      path: '/api/v1/instances',
      headers: { 'content-type': 'application/json' },
      body: instanceBody(index, {
        port: targetPort,
        check: {
          http: `http://127.0.0.1:${targetPort}/health/${index}`,
          interval: CHECK_INTERVAL,
          timeout: '2s',
        },
      }),
    });
    await response.body.dump();
  });
  // Let every instance be checked at least once, so the window sees steady state.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await pool.request({ method: 'GET', path: '/api/v1/health' });
    const health = (await response.body.json()) as { instances?: Record<string, number> };
    if ((health.instances?.healthy ?? 0) >= CHECKED_INSTANCES || Date.now() > deadline) break;
    await sleep(500);
  }
  const cpuBefore = cpuSeconds(control.pid);
  const checksBefore = checks;
  const started = performance.now();
  await sleep(CPU_WINDOW_MS);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(control.pid) - cpuBefore;
  const checked = checks - checksBefore;
  const rss = rssMiB(control.pid);
  await pool.close();
  await control.stop();
  return {
    checksPerSecond: checked / seconds,
    cpuPercent: (cpu / seconds) * 100,
    cpuMsPer1000Checks: checked > 0 ? ((cpu * 1000) / checked) * 1000 : Number.NaN,
    rssMiB: rss,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
