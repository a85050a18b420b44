/**
 * Request counts, failures and a latency histogram over sliding windows, in fixed memory: two rings
 * of time slots (10 s × 31 for windows up to 5 minutes, 1 min × 61 up to an hour), each slot a
 * Float64Array allocated the first time it is used and recycled when the ring comes round. Latency
 * bins are log-spaced, 2^(1/3) apart from 0.1 ms to ~210 s, so a percentile read off them is within
 * about 13% (it is interpolated within its bin and clamped to the slot's observed min and max).
 */

const BASE_MS = 0.1;
const BINS_PER_DOUBLING = 3;
/** Bins 0-63 have upper bounds BASE_MS · 2^(i/3); bin 64 takes everything above. */
export const LATENCY_BINS = 65;
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from(
  { length: LATENCY_BINS - 1 },
  (_, i) => BASE_MS * 2 ** (i / BINS_PER_DOUBLING),
);

const COUNT = 0;
const FAILED = 1;
const SUM = 2;
const MIN = 3;
const MAX = 4;
/** The lowest and highest bin a slot has used, so reading it skips the empty ones. */
const LOW_BIN = 5;
const HIGH_BIN = 6;
const BIN0 = 7;
const SLOT_SIZE = BIN0 + LATENCY_BINS;

/** The longest window a series can answer for. */
export const MAX_WINDOW_MS = 3_600_000;
export const MIN_WINDOW_MS = 10_000;

export function latencyBin(durationMs: number): number {
  if (!(durationMs > BASE_MS)) return 0;
  const bin = Math.ceil(BINS_PER_DOUBLING * Math.log2(durationMs / BASE_MS));
  return bin < LATENCY_BINS - 1 ? bin : LATENCY_BINS - 1;
}

/**
 * Slots are Float32: half the memory, exact counts to 2^24 per slot, and a latency sum within a
 * rounding error far below the figures' two or three significant digits.
 */
class Ring {
  private readonly slots: (Float32Array | undefined)[];
  /** The time index (floor(at / slotMs)) each slot holds. */
  private readonly times: Float64Array;

  constructor(
    readonly slotMs: number,
    readonly slotCount: number,
  ) {
    this.slots = new Array(slotCount).fill(undefined);
    this.times = new Float64Array(slotCount).fill(-1);
  }

  /** Largest window this ring answers: a window that cuts slots at both ends spans every slot. */
  get spanMs(): number {
    return this.slotMs * (this.slotCount - 1);
  }

  record(atMs: number, durationMs: number, failed: boolean, weight: number): void {
    const time = Math.floor(atMs / this.slotMs);
    const index = time % this.slotCount;
    const held = this.times[index]!;
    // A slot holding a later time means `atMs` has already left this ring's horizon.
    if (held > time) return;
    let slot = this.slots[index];
    if (slot === undefined) {
      slot = new Float32Array(SLOT_SIZE);
      this.slots[index] = slot;
    }
    if (held < time) {
      slot.fill(0);
      slot[MIN] = Number.POSITIVE_INFINITY;
      slot[LOW_BIN] = LATENCY_BINS;
      slot[HIGH_BIN] = -1;
      this.times[index] = time;
    }
    slot[COUNT] += weight;
    if (failed) slot[FAILED] += weight;
    slot[SUM] += durationMs * weight;
    if (durationMs < slot[MIN]!) slot[MIN] = durationMs;
    if (durationMs > slot[MAX]!) slot[MAX] = durationMs;
    const bin = latencyBin(durationMs);
    slot[BIN0 + bin] += weight;
    if (bin < slot[LOW_BIN]!) slot[LOW_BIN] = bin;
    if (bin > slot[HIGH_BIN]!) slot[HIGH_BIN] = bin;
  }

  /**
   * Adds the window [nowMs - windowMs, nowMs] into `acc`: the slots inside it whole, and the oldest,
   * which the window's start cuts, in proportion to the part of it inside the window (arrivals taken
   * as even within a slot).
   */
  addTo(acc: Float64Array, nowMs: number, windowMs: number): void {
    const from = nowMs - windowMs;
    const last = Math.floor(nowMs / this.slotMs);
    const first = Math.max(Math.floor(from / this.slotMs), last - this.slotCount + 1);
    for (let time = first; time <= last; time++) {
      const index = time % this.slotCount;
      if (this.times[index] !== time) continue;
      const slot = this.slots[index]!;
      const share = time === first ? Math.min(1, ((time + 1) * this.slotMs - from) / this.slotMs) : 1;
      if (!(share > 0)) continue;
      acc[COUNT] += slot[COUNT]! * share;
      acc[FAILED] += slot[FAILED]! * share;
      acc[SUM] += slot[SUM]! * share;
      if (slot[MIN]! < acc[MIN]!) acc[MIN] = slot[MIN]!;
      if (slot[MAX]! > acc[MAX]!) acc[MAX] = slot[MAX]!;
      const high = BIN0 + slot[HIGH_BIN]!;
      for (let bin = BIN0 + slot[LOW_BIN]!; bin <= high; bin++) acc[bin] += slot[bin]! * share;
    }
  }
}

export interface WindowFigures {
  /** Requests in the window (weighted by sampling; rounded). */
  requests: number;
  failed: number;
  /** failed / requests, 0 when there were none. */
  errorRate: number;
  /** Requests per second over the part of the window with data. */
  rps: number;
  avgMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** One series (a service, an edge, the mesh): what happened to its requests over time. */
export class LatencySeries {
  private readonly fine = new Ring(10_000, 31);
  private readonly coarse = new Ring(60_000, 61);
  /** When this series got its first observation (rates do not count time before it). */
  firstMs = Number.POSITIVE_INFINITY;
  lastMs = Number.NEGATIVE_INFINITY;

  record(atMs: number, durationMs: number, failed: boolean, weight = 1): void {
    const duration = durationMs > 0 ? durationMs : 0;
    this.fine.record(atMs, duration, failed, weight);
    this.coarse.record(atMs, duration, failed, weight);
    if (atMs < this.firstMs) this.firstMs = atMs;
    if (atMs > this.lastMs) this.lastMs = atMs;
  }

  /** Sums the window into `acc` (see `newAccumulator`); returns how long a time it covers, for rates. */
  accumulate(acc: Float64Array, nowMs: number, windowMs: number): number {
    const ring = windowMs <= this.fine.spanMs ? this.fine : this.coarse;
    ring.addTo(acc, nowMs, windowMs);
    // A series younger than the window has a rate over its own life.
    return nowMs - Math.max(nowMs - windowMs, this.firstMs);
  }

  /** The window's figures; `acc` (cleared first) saves an allocation when reading many series. */
  figures(nowMs: number, windowMs: number, acc = newAccumulator()): WindowFigures {
    resetAccumulator(acc);
    return figuresOf(acc, this.accumulate(acc, nowMs, windowMs));
  }

  /** False when nothing was recorded in the window (cheaper than reading it). */
  activeIn(nowMs: number, windowMs: number): boolean {
    // The oldest slot of a window may begin up to a (coarse) slot before the window does.
    return this.lastMs >= nowMs - windowMs - 60_000;
  }
}

export function newAccumulator(): Float64Array {
  const acc = new Float64Array(SLOT_SIZE);
  acc[MIN] = Number.POSITIVE_INFINITY;
  return acc;
}

/** Clears an accumulator for reuse. */
export function resetAccumulator(acc: Float64Array): void {
  acc.fill(0);
  acc[MIN] = Number.POSITIVE_INFINITY;
}

export function figuresOf(acc: Float64Array, spanMs: number): WindowFigures {
  const requests = acc[COUNT]!;
  if (!(requests > 0)) {
    return {
      requests: 0,
      failed: 0,
      errorRate: 0,
      rps: 0,
      avgMs: null,
      p50Ms: null,
      p95Ms: null,
      p99Ms: null,
      maxMs: null,
    };
  }
  const failed = acc[FAILED]!;
  return {
    requests: Math.round(requests),
    failed: Math.round(failed),
    errorRate: round(failed / requests, 6),
    rps: round(requests / Math.max(spanMs / 1000, 1), 3),
    avgMs: round(acc[SUM]! / requests, 3),
    p50Ms: round(quantile(acc, 0.5), 3),
    p95Ms: round(quantile(acc, 0.95), 3),
    p99Ms: round(quantile(acc, 0.99), 3),
    maxMs: round(acc[MAX]!, 3),
  };
}

/** The q-quantile, interpolated within its bin and kept within the observed min and max. */
export function quantile(acc: Float64Array, q: number): number {
  const total = acc[COUNT]!;
  const target = q * total;
  let seen = 0;
  for (let bin = 0; bin < LATENCY_BINS; bin++) {
    const count = acc[BIN0 + bin]!;
    if (count <= 0) continue;
    if (seen + count >= target) {
      const lower = bin === 0 ? 0 : LATENCY_BOUNDS_MS[bin - 1]!;
      const upper = bin < LATENCY_BINS - 1 ? LATENCY_BOUNDS_MS[bin]! : acc[MAX]!;
      const value = lower + ((target - seen) / count) * (upper - lower);
      return Math.min(Math.max(value, acc[MIN]!), acc[MAX]!);
    }
    seen += count;
  }
  return acc[MAX]!;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * Series by name, bounded: past `maxSeries` the least recently active one is dropped, and a series
 * idle for longer than the longest window is dropped when the set is read.
 */
export class SeriesMap<K> {
  private readonly series = new Map<K, LatencySeries>();

  constructor(private readonly maxSeries: number) {}

  get size(): number {
    return this.series.size;
  }

  get(key: K): LatencySeries | undefined {
    return this.series.get(key);
  }

  obtain(key: K): LatencySeries {
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= this.maxSeries) this.dropStalest();
      series = new LatencySeries();
      this.series.set(key, series);
    }
    return series;
  }

  /** Live series (idle ones are dropped on the way). */
  entries(nowMs: number): [K, LatencySeries][] {
    const live: [K, LatencySeries][] = [];
    for (const [key, series] of this.series) {
      if (series.lastMs < nowMs - MAX_WINDOW_MS - 60_000) this.series.delete(key);
      else live.push([key, series]);
    }
    return live;
  }

  private dropStalest(): void {
    let stalest: K | undefined;
    let at = Number.POSITIVE_INFINITY;
    for (const [key, series] of this.series) {
      if (series.lastMs < at) {
        at = series.lastMs;
        stalest = key;
      }
    }
    if (stalest !== undefined) this.series.delete(stalest);
  }
}
