import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { monitorEventLoopDelay } from '../../../src/telemetry/event-loop-delay.ts';

const MS = 1e6;

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: the loop cannot run the monitor's timer
  }
}

describe('monitorEventLoopDelay', () => {
  it('records about its resolution while the loop is free, and a blocked loop as a long delay', async () => {
    const monitor = monitorEventLoopDelay(10);
    try {
      await sleep(150);
      const { histogram } = monitor;
      expect(histogram.count).toBeGreaterThanOrEqual(5);
      // The time between two runs of a 10 ms timer: never far below 10 ms.
      expect(histogram.percentile(50)).toBeGreaterThan(5 * MS);
      histogram.reset();
      await sleep(30);
      blockFor(80);
      await sleep(30);
      expect(histogram.max).toBeGreaterThanOrEqual(75 * MS);
      expect(histogram.min).toBeLessThan(histogram.max);
      expect(histogram.stddev).toBeGreaterThan(0);
    } finally {
      monitor.stop();
    }
  });

  it('stops sampling when stopped', async () => {
    const monitor = monitorEventLoopDelay(5);
    await sleep(40);
    monitor.stop();
    const count = monitor.histogram.count;
    expect(count).toBeGreaterThan(0);
    await sleep(40);
    expect(monitor.histogram.count).toBe(count);
  });

  it("keeps a small fraction of the resident memory Node's monitor does once its figures are read", async () => {
    // Eight monitors of each kind, each read as a scrape reads it: how much the process's anonymous
    // resident memory (smaps_rollup) grew, between full collections so the JS heap's own ups and
    // downs stay out of it, after a first one of each kind has loaded the code involved.
    const script = `
      import { readFileSync } from 'node:fs';
      import { monitorEventLoopDelay as nodeMonitor } from 'node:perf_hooks';
      import { setTimeout as sleep } from 'node:timers/promises';
      import { monitorEventLoopDelay } from './src/telemetry/event-loop-delay.ts';
      const anonymousKiB = () => Number(/Anonymous:\\s+(\\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);
      const read = (h) => [h.count, h.min, h.max, h.mean, h.stddev, h.percentile(50), h.percentile(90), h.percentile(99)];
      const kept = [];
      async function growth(count, start) {
        gc();
        const before = anonymousKiB();
        const histograms = [];
        for (let i = 0; i < count; i++) histograms.push(start());
        await sleep(50);
        for (const h of histograms) { read(h); h.reset(); }
        kept.push(histograms);
        gc();
        return anonymousKiB() - before;
      }
      const ours = () => monitorEventLoopDelay(10).histogram;
      const node = () => { const h = nodeMonitor({ resolution: 10 }); h.enable(); return h; };
      await growth(1, ours);
      await growth(1, node);
      console.log(JSON.stringify({ ours: await growth(8, ours), node: await growth(8, node) }));
      process.exit(0);
    `;
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: join(import.meta.dirname, '../../..'),
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const { ours, node } = JSON.parse(out.trim()) as { ours: number; node: number };
    // Node's: 364 KiB of counts each, all touched by reading the mean and standard deviation.
    expect(node).toBeGreaterThan(8 * 300);
    expect(ours).toBeLessThan(node / 4);
  });
});
