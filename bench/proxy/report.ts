import { median } from '../lib/stats.ts';
import { LABELS, type TargetId, TRELLIS_IDS } from './targets.ts';
import { type WrkResult, wrkErrors } from './wrk.ts';

export type TestName = 'saturation' | 'paced';

/** One wrk run against one target, with what the processes involved spent meanwhile. */
export interface Sample {
  round: number;
  test: TestName;
  target: TargetId;
  wrk: WrkResult;
  /** NaN for direct (no proxy). */
  proxyCpuNs: number;
  /** The share of proxyCpuNs spent in user mode, the rest in the kernel (from /proc/PID/stat ticks). */
  proxyUserShare: number;
  upstreamCpuNs: number;
  wrkCpuNs: number;
  /** Busy CPU on the whole machine not used by wrk, the upstream, the proxy or the harness. */
  foreignCpuNs: number;
  stealNs: number;
  /** Highest proxy RSS seen during the run, and its anonymous and file-backed parts then; NaN for direct. */
  rssMiB: number;
  rssAnonMiB: number;
  rssFileMiB: number;
}

export interface RunInfo {
  date: string;
  machine: string;
  versions: string;
  rounds: number;
  seconds: number;
  connections: number;
  rate: number;
  pacedConnections: number;
  coreLoad: number;
  coreProxy: number;
  bodyBytes: number;
}

/** The targets for Trellis's proxies, per core (the memory one is the sidecar's). */
export const TARGETS = {
  haproxyRatio: 0.5,
  cpuUsPerRequest: 40,
  addedP50Ms: 0.25,
  addedP90Ms: 0.5,
  rssMB: 60,
};

/** Per-target figures: medians over rounds of per-round values (ratios and deltas taken within a round). */
export interface Figures {
  requestsPerSecond: number;
  toHaproxy: number;
  toDirect: number;
  p50Ms: number;
  p99Ms: number;
  addedP50Ms: number;
  addedP90Ms: number;
  addedP99Ms: number;
  /** Added latency at the paced rate over HAProxy's, and the paced latency over the direct path's. */
  addedP50ToHaproxy: number;
  addedP99ToHaproxy: number;
  pacedP50ToDirect: number;
  pacedP99ToDirect: number;
  pacedRequestsPerSecond: number;
  cpuUsPerRequest: number;
  /** cpuUsPerRequest split into user mode and kernel (medians of each, so they need not add up). */
  cpuUserUsPerRequest: number;
  cpuKernelUsPerRequest: number;
  /** The proxy's CPU per request at the paced rate, where every request wakes an idle proxy. */
  pacedCpuUsPerRequest: number;
  /** CPU per request at saturation over HAProxy's. */
  cpuToHaproxy: number;
  rssMiB: number;
  rssAnonMiB: number;
  rssFileMiB: number;
  errors: number;
}

/** Others' CPU during a run above this many cores makes the run suspect. */
export const NOISY_CORES = 0.1;

/** Cores' worth of CPU that other processes used during a run. */
export function othersCores(sample: Sample): number {
  return sample.foreignCpuNs / (sample.wrk.duration_us * 1000);
}

const rate = (sample: Sample | undefined) =>
  sample === undefined ? Number.NaN : sample.wrk.requests / (sample.wrk.duration_us / 1e6);

/** The share `part` of the proxy's CPU per request in µs; NaN without requests. */
const cpuPerRequest = (sample: Sample, part: number) =>
  sample.wrk.requests > 0 ? (part * sample.proxyCpuNs) / 1000 / sample.wrk.requests : Number.NaN;

export function figures(samples: Sample[], target: TargetId): Figures {
  const rounds = [...new Set(samples.map((sample) => sample.round))];
  const find = (test: TestName, id: TargetId, round: number) =>
    samples.find((s) => s.test === test && s.target === id && s.round === round);
  const over = (fn: (round: number) => number) => median(rounds.map(fn));
  const ratio = (base: TargetId) =>
    over((r) => rate(find('saturation', target, r)) / rate(find('saturation', base, r)));
  const added = (key: 'p50_us' | 'p90_us' | 'p99_us') =>
    over((r) => {
      const mine = find('paced', target, r);
      const direct = find('paced', 'direct', r);
      return mine && direct ? (mine.wrk[key] - direct.wrk[key]) / 1000 : Number.NaN;
    });
  const pacedOver = (key: 'p50_us' | 'p99_us', base: TargetId, subtractDirect: boolean) =>
    over((r) => {
      const mine = find('paced', target, r);
      const other = find('paced', base, r);
      const direct = find('paced', 'direct', r);
      if (!mine || !other || !direct) return Number.NaN;
      const offset = subtractDirect ? direct.wrk[key] : 0;
      return (mine.wrk[key] - offset) / (other.wrk[key] - offset);
    });
  /** The median over rounds of the share `part` of the proxy's CPU per request in `test`. */
  const cpu = (test: TestName, part: (sample: Sample) => number) =>
    over((r) => {
      const sample = find(test, target, r);
      return sample === undefined ? Number.NaN : cpuPerRequest(sample, part(sample));
    });
  const mine = samples.filter((sample) => sample.target === target);
  return {
    requestsPerSecond: over((r) => rate(find('saturation', target, r))),
    toHaproxy: ratio('haproxy'),
    toDirect: ratio('direct'),
    p50Ms: over((r) => (find('saturation', target, r)?.wrk.p50_us ?? Number.NaN) / 1000),
    p99Ms: over((r) => (find('saturation', target, r)?.wrk.p99_us ?? Number.NaN) / 1000),
    addedP50Ms: added('p50_us'),
    addedP90Ms: added('p90_us'),
    addedP99Ms: added('p99_us'),
    addedP50ToHaproxy: pacedOver('p50_us', 'haproxy', true),
    addedP99ToHaproxy: pacedOver('p99_us', 'haproxy', true),
    pacedP50ToDirect: pacedOver('p50_us', 'direct', false),
    pacedP99ToDirect: pacedOver('p99_us', 'direct', false),
    pacedRequestsPerSecond: over((r) => rate(find('paced', target, r))),
    cpuUsPerRequest: cpu('saturation', () => 1),
    cpuUserUsPerRequest: cpu('saturation', (sample) => sample.proxyUserShare),
    cpuKernelUsPerRequest: cpu('saturation', (sample) => 1 - sample.proxyUserShare),
    pacedCpuUsPerRequest: cpu('paced', () => 1),
    cpuToHaproxy: over((r) => {
      const mine = find('saturation', target, r);
      const haproxy = find('saturation', 'haproxy', r);
      return mine && haproxy ? cpuPerRequest(mine, 1) / cpuPerRequest(haproxy, 1) : Number.NaN;
    }),
    rssMiB: over((r) => find('paced', target, r)?.rssMiB ?? Number.NaN),
    rssAnonMiB: over((r) => find('paced', target, r)?.rssAnonMiB ?? Number.NaN),
    rssFileMiB: over((r) => find('paced', target, r)?.rssFileMiB ?? Number.NaN),
    errors: mine.reduce((sum, sample) => sum + wrkErrors(sample.wrk), 0),
  };
}

const toMB = (mib: number) => (mib * 1024 * 1024) / 1e6;
const num = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const count = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–');
const signed = (value: number, digits = 3) =>
  Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(digits)}` : '–';
/** A Trellis target as the report's prose names it. */
const trellisName = (id: TargetId) => (id === 'trellis' ? 'gateway' : id);
const cell = (text: string) => text.replaceAll('|', '\\|').replace(/\s+/g, ' ').trim();

/**
 * Resident memory outside the table's runs: Node's floor, each Trellis target right after it
 * started, and its highest during a paced run before any saturating load (the table's figure comes
 * after the saturation runs, which leave the heap and malloc's arenas larger).
 */
export interface IdleRss {
  plainMiB: number;
  tsxMiB: number;
  trellisMiB: Partial<Record<TargetId, number>>;
  trellisFreshPacedMiB: Partial<Record<TargetId, number>>;
}

/**
 * Each Trellis target served the paced rate for `seconds` from its start (bench:proxy `SUSTAIN`):
 * its highest RSS in the last `stepSeconds`, where a proxy's memory has settled or still grows.
 */
export interface SustainedRss {
  seconds: number;
  stepSeconds: number;
  lastPeakMiB: Partial<Record<TargetId, number>>;
}

export function renderReport(
  info: RunInfo,
  order: TargetId[],
  unavailable: Partial<Record<TargetId, string>>,
  samples: Sample[],
  idle?: IdleRss,
  notes: readonly string[] = [],
  sustained?: SustainedRss,
): string {
  const out: string[] = [];
  out.push(`## Proxy benchmark — ${info.date}`, '');
  out.push(`${info.machine}; ${info.versions}.`);
  out.push(
    `wrk and the upstream (nginx, 1 process, \`return 200\` with a ${info.bodyBytes}-byte body, keep-alive) on CPU ${info.coreLoad}; ` +
      `each proxy alone on CPU ${info.coreProxy}, single-threaded. ${info.rounds} interleaved round(s), medians; ` +
      'ratios and added latency are taken within each round, then the median.',
  );
  out.push('');
  out.push(
    `req/s, p50, p99: saturation, \`wrk -t1 -c${info.connections} -d${info.seconds}s\`. ` +
      `Added p50/p90/p99: at ~${info.rate.toLocaleString('en-US')} req/s over ${info.pacedConnections} connections ` +
      `(random think time, ${info.seconds}s), minus direct in the same round. ` +
      "CPU: the proxy's on-CPU time (all threads, /proc schedstat) per request at saturation. " +
      "RSS: the proxy's highest resident memory during the paced run, while its /metrics is scraped every second (Trellis).",
  );
  out.push('');
  out.push(
    '| proxy | req/s | × HAProxy | × direct | p50 ms | p99 ms | added p50 ms | added p90 ms | added p99 ms | CPU µs/req | RSS MiB | errors |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const id of order) {
    const reason = unavailable[id];
    if (reason !== undefined) {
      out.push(`| ${LABELS[id]} | not available: ${cell(reason)} |${' – |'.repeat(10)}`);
      continue;
    }
    const f = figures(samples, id);
    const direct = id === 'direct';
    out.push(
      `| ${LABELS[id]} | ${count(f.requestsPerSecond)} | ${num(f.toHaproxy, 2)} | ${num(f.toDirect, 2)} | ` +
        `${num(f.p50Ms, 3)} | ${num(f.p99Ms, 3)} | ` +
        `${direct ? '0' : signed(f.addedP50Ms)} | ${direct ? '0' : signed(f.addedP90Ms)} | ${direct ? '0' : signed(f.addedP99Ms)} | ` +
        `${num(f.cpuUsPerRequest, 1)} | ${num(f.rssMiB, 1)} | ${f.errors} |`,
    );
  }
  out.push('');
  out.push(
    'The same as ratios (taken within each round, then the median): requests/s at saturation, added latency ' +
      "at the paced rate over HAProxy's, latency at the paced rate over the direct path's, and CPU per " +
      "1,000 requests at saturation (ms; the same figure as µs per request) over HAProxy's.",
  );
  out.push('');
  out.push(
    '| proxy | req/s × HAProxy | req/s × direct | added p50 × HAProxy | added p99 × HAProxy | p50 × direct | p99 × direct | CPU ms / 1,000 req | CPU × HAProxy |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const id of order) {
    if (id === 'direct' || unavailable[id] !== undefined) continue;
    const f = figures(samples, id);
    out.push(
      `| ${LABELS[id]} | ${num(f.toHaproxy, 2)} | ${num(f.toDirect, 2)} | ${num(f.addedP50ToHaproxy, 2)} | ` +
        `${num(f.addedP99ToHaproxy, 2)} | ${num(f.pacedP50ToDirect, 2)} | ${num(f.pacedP99ToDirect, 2)} | ` +
        `${num(f.cpuUsPerRequest, 1)} | ${num(f.cpuToHaproxy, 2)} |`,
    );
  }
  out.push('');
  const direct = samples.filter((s) => s.target === 'direct' && s.test === 'paced');
  if (direct.length > 0) {
    const ms = (key: 'p50_us' | 'p90_us' | 'p99_us') => num(median(direct.map((s) => s.wrk[key] / 1000)), 3);
    const achieved = order
      .filter((id) => unavailable[id] === undefined)
      .map((id) => figures(samples, id).pacedRequestsPerSecond);
    out.push(
      `Direct at the paced rate: p50 ${ms('p50_us')} ms, p90 ${ms('p90_us')} ms, p99 ${ms('p99_us')} ms; ` +
        `achieved paced rates ${count(Math.min(...achieved))}–${count(Math.max(...achieved))} req/s.`,
    );
  }
  if (idle !== undefined) {
    const trellis = TRELLIS_IDS.filter((id) => idle.trellisMiB[id] !== undefined).map(
      (id) => `${trellisName(id)} ${num(idle.trellisMiB[id]!, 1)} MiB`,
    );
    const fresh = TRELLIS_IDS.filter((id) => idle.trellisFreshPacedMiB[id] !== undefined).map(
      (id) => `${trellisName(id)} ${num(idle.trellisFreshPacedMiB[id]!, 1)} MiB`,
    );
    out.push(
      'Trellis runs its build (plain JavaScript, `node bin/trellis.js gateway|proxy`), fed by a control plane ' +
        '(`trellis start`, on the load core); http-proxy and @fastify/http-proxy run under `node --import tsx`, ' +
        "Node's floor (bench/proxy/node-floor.mjs) under plain node with Trellis's heap settings and V8 thread pool. " +
        `RSS floor: an idle node:http server is ${num(idle.plainMiB, 1)} MiB under plain node, ` +
        `${num(idle.tsxMiB, 1)} MiB under tsx` +
        (trellis.length > 0 ? `; Trellis right after start: ${trellis.join(', ')}` : '') +
        (fresh.length > 0
          ? `; at the paced rate before any saturating load (the table's RSS comes after them): ${fresh.join(', ')}.`
          : '.'),
    );
  }
  const proxies = order.filter((id) => id !== 'direct' && unavailable[id] === undefined);
  if (proxies.length > 0) {
    const split = proxies.map((id) => {
      const f = figures(samples, id);
      const perRound = samples
        .filter((s) => s.target === id && s.test === 'saturation')
        .map((s) => cpuPerRequest(s, 1));
      return (
        `${LABELS[id].replaceAll('**', '')} ${num(f.cpuUserUsPerRequest, 1)} / ${num(f.cpuKernelUsPerRequest, 1)}` +
        ` (${num(Math.min(...perRound), 1)}–${num(Math.max(...perRound), 1)} in all)`
      );
    });
    out.push(
      `CPU µs per request at saturation, user / kernel (medians; the range of the total across rounds): ${split.join(' · ')}.`,
    );
    const paced = proxies.map(
      (id) => `${LABELS[id].replaceAll('**', '')} ${num(figures(samples, id).pacedCpuUsPerRequest, 1)}`,
    );
    out.push(
      'CPU µs per request at the paced rate, where each request finds the proxy asleep (Trellis polls ' +
        `instead of sleeping while a fast upstream's reply is due, \`--busy-poll\`): ${paced.join(' · ')}.`,
    );
  }
  const aboveFloor = proxies.includes('node-floor') ? TRELLIS_IDS.filter((id) => proxies.includes(id)) : [];
  if (aboveFloor.length > 0) {
    const floor = figures(samples, 'node-floor');
    const parts = aboveFloor.map((id) => {
      const f = figures(samples, id);
      return (
        `${trellisName(id)} ${signed(f.cpuUsPerRequest - floor.cpuUsPerRequest, 1)} µs CPU/req ` +
        `(user ${signed(f.cpuUserUsPerRequest - floor.cpuUserUsPerRequest, 1)}), ` +
        `${signed(f.rssMiB - floor.rssMiB, 1)} MiB RSS ` +
        `(anonymous ${signed(f.rssAnonMiB - floor.rssAnonMiB, 1)})`
      );
    });
    out.push(`Above Node's floor (what Trellis itself costs, same run): ${parts.join(' · ')}.`);
  }
  for (const note of notes) out.push(note);
  const foreign = samples.map(othersCores);
  const steal = samples.map((s) => s.stealNs / (s.wrk.duration_us * 1000));
  const noisy = samples.filter((s) => othersCores(s) > NOISY_CORES);
  const noisyList =
    noisy.length <= 6
      ? noisy.map((s) => `${s.target} ${s.test} r${s.round}`).join(', ')
      : 'listed in the log';
  out.push(
    `Noise: CPU used by other processes during the runs, in cores: median ${num(median(foreign), 2)}, ` +
      `max ${num(Math.max(...foreign.filter(Number.isFinite)), 2)}; steal median ${num(median(steal), 2)}. ` +
      (noisy.length === 0
        ? `No run saw more than ${NOISY_CORES} cores of others' work.`
        : `${noisy.length} of ${samples.length} runs saw more than ${NOISY_CORES} (${noisyList}): ` +
          'their figures are skewed; rerun on a quiet machine.'),
  );
  const spread = order
    .filter((id) => unavailable[id] === undefined)
    .map((id) => {
      const rates = samples.filter((s) => s.target === id && s.test === 'saturation').map(rate);
      return `${id} ${count(Math.min(...rates))}–${count(Math.max(...rates))}`;
    });
  out.push(`Saturation req/s across rounds (min–max): ${spread.join('; ')}.`);
  for (const id of TRELLIS_IDS) {
    if (!order.includes(id)) continue;
    out.push('');
    out.push(renderVerdict(samples, id, unavailable[id], sustained));
  }
  return out.join('\n');
}

/** What a verdict calls each Trellis target. */
const VERDICT_NAMES: Partial<Record<TargetId, string>> = {
  trellis: 'Trellis gateway',
  sidecar: 'Trellis sidecar',
  'sidecar-nopoll': 'Trellis sidecar without busy polling',
};

/**
 * One line: a Trellis target against each of the targets. With a sustained run, the memory
 * target is checked at its end as well: a proxy must stay under it, not only pass through.
 */
export function renderVerdict(
  samples: Sample[],
  target: TargetId,
  unavailable: string | undefined,
  sustained?: SustainedRss,
): string {
  const name = VERDICT_NAMES[target] ?? LABELS[target];
  if (unavailable !== undefined) return `**Verdict: ${name} not available (${cell(unavailable)}).**`;
  if (!samples.some((sample) => sample.target === target)) return `**Verdict: ${name} not measured.**`;
  const f = figures(samples, target);
  const rssMB = toMB(f.rssMiB);
  const checks: [string, boolean][] = [
    [
      `${num(f.toHaproxy, 2)}× HAProxy req/s (≥ ${TARGETS.haproxyRatio.toFixed(2)})`,
      f.toHaproxy >= TARGETS.haproxyRatio,
    ],
    [
      `${num(f.cpuUsPerRequest, 1)} µs CPU/req (≤ ${TARGETS.cpuUsPerRequest})`,
      f.cpuUsPerRequest <= TARGETS.cpuUsPerRequest,
    ],
    [`added p50 ${signed(f.addedP50Ms)} ms (≤ +${TARGETS.addedP50Ms})`, f.addedP50Ms <= TARGETS.addedP50Ms],
    [`added p90 ${signed(f.addedP90Ms)} ms (≤ +${TARGETS.addedP90Ms})`, f.addedP90Ms <= TARGETS.addedP90Ms],
    [
      `RSS at ~1,000 req/s ${num(rssMB, 1)} MB = ${num(f.rssMiB, 1)} MiB, of which ${num(f.rssFileMiB, 1)} MiB ` +
        `file-backed (mostly the node binary's pages, shared by every Node process on the machine) and ${num(f.rssAnonMiB, 1)} MiB anonymous ` +
        `(< ${TARGETS.rssMB} MB)`,
      rssMB < TARGETS.rssMB,
    ],
  ];
  const lastPeakMiB = sustained?.lastPeakMiB[target];
  if (sustained !== undefined && lastPeakMiB !== undefined) {
    const sustainedMB = toMB(lastPeakMiB);
    checks.push([
      `RSS in the last ${sustained.stepSeconds} s of ${sustained.seconds} s at ~1,000 req/s from start ${num(sustainedMB, 1)} MB = ` +
        `${num(lastPeakMiB, 1)} MiB (< ${TARGETS.rssMB} MB)`,
      sustainedMB < TARGETS.rssMB,
    ]);
  }
  const missed = checks.filter(([, pass]) => !pass).length;
  const parts = checks.map(([text, pass]) => `${text} ${pass ? 'PASS' : 'MISS'}`);
  const summary = missed === 0 ? 'meets every target' : `misses ${missed} of ${checks.length} targets`;
  return `**Verdict: ${name} ${summary}:** ${parts.join(' · ')}.`;
}
