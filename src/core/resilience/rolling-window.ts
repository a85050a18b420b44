/**
 * Two running counts (`total` and `marked`, e.g. requests and failures) over a sliding window of fixed
 * buckets. Time comes from the caller; `advance(now)` drops buckets that fell out of the window, so
 * `total` and `marked` are O(1) reads and recording never allocates. The window spans the current
 * bucket and the `buckets - 1` before it.
 */
export class RollingWindow {
  total = 0;
  marked = 0;
  private readonly bucketMs: number;
  private readonly totals: Float64Array;
  private readonly marks: Float64Array;
  /** Index in time (floor(now / bucketMs)) of the newest bucket. */
  private head = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number, buckets: number) {
    if (!(windowMs > 0) || !(buckets >= 1))
      throw new RangeError('a rolling window needs windowMs > 0 and buckets >= 1');
    this.bucketMs = windowMs / buckets;
    this.totals = new Float64Array(buckets);
    this.marks = new Float64Array(buckets);
  }

  advance(now: number): void {
    const slot = Math.floor(now / this.bucketMs);
    if (slot <= this.head) return;
    const n = this.totals.length;
    if (slot - this.head >= n) {
      this.reset();
    } else {
      for (let s = this.head + 1; s <= slot; s++) {
        const i = s % n;
        this.total -= this.totals[i];
        this.marked -= this.marks[i];
        this.totals[i] = 0;
        this.marks[i] = 0;
      }
    }
    this.head = slot;
  }

  record(now: number, total: number, marked: number): void {
    this.advance(now);
    const i = this.head % this.totals.length;
    this.totals[i] += total;
    this.marks[i] += marked;
    this.total += total;
    this.marked += marked;
  }

  reset(): void {
    this.totals.fill(0);
    this.marks.fill(0);
    this.total = 0;
    this.marked = 0;
  }
}
