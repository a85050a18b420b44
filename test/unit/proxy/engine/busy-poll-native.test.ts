/**
 * native/busy-poll.c in a process of its own: while a poller is on, the event loop spins (its
 * thread's CPU time runs with the wall clock) where it would otherwise sleep; it stops at the end of
 * the window or at stop(), and never keeps a process alive.
 */
import { describe, expect, it } from 'vitest';
import { loadLoopPoller } from '../../../../src/proxy/engine/index.ts';
import { runModuleScript } from '../../../helpers/module-script.ts';

describe('native busy_poll', () => {
  it('is built (npm install builds native/; a machine with a C compiler always has it)', () => {
    const poller = loadLoopPoller();
    expect(poller?.poll).toBeTypeOf('function');
    poller!.stop();
  });

  it('spins the loop for the window, stops by itself after it or at stop(), and lets the process exit', async () => {
    const script = `
      import { loadLoopPoller } from './src/proxy/engine/reply-poller.ts';
      const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const poller = loadLoopPoller();
      const measure = async (ms) => { const before = cpuMs(); await sleep(ms); return cpuMs() - before; };
      await sleep(200); // start-up's compiling, on V8's threads, done
      const asleep = await measure(500);
      const first = poller.poll(500);
      const again = poller.poll(500);
      const polling = await measure(500);
      const after = await measure(500);
      poller.poll(10_000);
      const beforeStop = await measure(300);
      poller.stop();
      const stopped = await measure(500);
      // Still asked to poll for a minute: the process must end anyway once nothing else is left.
      poller.poll(60_000);
      console.log(JSON.stringify({ asleep, first, again, polling, after, beforeStop, stopped }));
    `;
    const started = Date.now();
    const r = await runModuleScript<Record<string, number | boolean>>(script);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(r.first).toBe(false);
    expect(r.again).toBe(true);
    // CPU milliseconds over 500 ms (300 before the stop): asleep the loop uses next to nothing;
    // polling, all the time the scheduler gives it (at least a fifth even with the machine's other
    // cores and tests competing for it).
    expect(r.asleep as number).toBeLessThan(50);
    expect(r.polling as number).toBeGreaterThan(100);
    expect(r.beforeStop as number).toBeGreaterThan(60);
    expect(r.after as number).toBeLessThan(50);
    expect(r.stopped as number).toBeLessThan(50);
  });
});
