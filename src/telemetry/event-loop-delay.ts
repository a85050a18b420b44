import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Delays below this (ns) share the histogram's lowest bucket; a timer is never that punctual. */
const LOWEST_NS = 1_000;
/** Longer delays (ns) are counted in `exceeds`, not recorded: an hour-long stall is not a delay. */
const HIGHEST_NS = 3_600e9;
/** Two significant figures: each figure is within 1% of the delay it stands for. */
const SIGNIFICANT_FIGURES = 2;

export interface EventLoopDelayMonitor {
  /** The delays (ns) sampled since the start or the last `histogram.reset()`. */
  readonly histogram: RecordableHistogram;
  stop(): void;
}

/**
 * Samples the event loop's delay as Node's `monitorEventLoopDelay` does: a timer every
 * `resolutionMs` records the time since its previous run (so an idle loop records about
 * `resolutionMs`), into a histogram sized for such delays. Node's own monitor keeps its samples in a
 * histogram from 1 ns to 2^63 at three figures: 364 KiB of counts, which reading its mean or
 * standard deviation (every scrape) touches whole, so a proxy's resident memory carried them for its
 * life. This one's counts are ~28 KiB.
 */
export function monitorEventLoopDelay(resolutionMs: number): EventLoopDelayMonitor {
  const histogram = createHistogram({
    lowest: LOWEST_NS,
    highest: HIGHEST_NS,
    figures: SIGNIFICANT_FIGURES,
  });
  histogram.recordDelta();
  const timer = setInterval(() => histogram.recordDelta(), resolutionMs);
  timer.unref();
  return {
    histogram,
    stop() {
      clearInterval(timer);
    },
  };
}
