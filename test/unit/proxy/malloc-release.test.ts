import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../../src/core/index.ts';
import { loadMallocTrim, startMallocRelease, type TrimMalloc } from '../../../src/proxy/malloc-release.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { runModuleScript } from '../../helpers/module-script.ts';

const MiB = 1024 * 1024;
const logger = createJsonLogger({ level: 'silent' });

/** A trim that counts its calls. */
function countingTrim() {
  const state = { calls: 0 };
  const trim: TrimMalloc = () => {
    state.calls++;
    return true;
  };
  return { trim, state };
}

describe('native malloc_trim', () => {
  it('is built (npm install builds native/; a machine with a C compiler always has it)', () => {
    expect(loadMallocTrim()).toBeTypeOf('function');
  });

  it('gives back the pages of chunks freed below chunks still in use, which malloc keeps by itself', async () => {
    // 4,000 written buffers of 16 KiB outside V8's heap (62.5 MiB), each eighth kept: what the rest
    // freed lies between chunks still in use, where glibc gives nothing back by itself.
    const script = `
      import { setFlagsFromString } from 'node:v8';
      import { runInNewContext } from 'node:vm';
      import { loadMallocTrim } from './src/proxy/malloc-release.ts';
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc');
      const rss = () => process.memoryUsage.rss();
      const pause = () => new Promise((resolve) => setTimeout(resolve, 50));
      let buffers = Array.from({ length: 4000 }, () => Buffer.allocUnsafeSlow(16 * 1024).fill(7));
      const kept = buffers.filter((_, i) => i % 8 === 0);
      buffers = null;
      gc();
      gc();
      await pause();
      const freed = rss();
      await pause();
      const freedLater = rss();
      const released = loadMallocTrim()();
      const trimmed = rss();
      console.log(JSON.stringify({ freed, freedLater, trimmed, released, kept: kept.length }));
    `;
    const { freed, freedLater, trimmed, released, kept } =
      await runModuleScript<Record<string, number>>(script);
    expect(kept).toBe(500);
    // Freed but still resident, and it stays so; the trim gives most of the 54.7 MiB freed back.
    expect(freed - freedLater).toBeLessThan(4 * MiB);
    expect(released).toBe(true);
    expect(freedLater - trimmed).toBeGreaterThan(40 * MiB);
  });
});

describe('startMallocRelease', () => {
  it('trims every period until stopped', () => {
    const clock = createFakeClock();
    const { trim, state } = countingTrim();
    const release = startMallocRelease({ logger, clock, everyMs: 2_000, trim });
    expect(release.available).toBe(true);
    clock.advance(1_999);
    expect(state.calls).toBe(0);
    clock.advance(1);
    expect(state.calls).toBe(1);
    clock.advance(4_000);
    expect(state.calls).toBe(3);
    expect(release.runs).toBe(3);
    release.stop();
    clock.advance(60_000);
    expect(state.calls).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does nothing, and sets no timer, where there is no trim', () => {
    const clock = createFakeClock();
    const release = startMallocRelease({ logger, clock, trim: null });
    expect(release.available).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    release.stop();
  });
});
