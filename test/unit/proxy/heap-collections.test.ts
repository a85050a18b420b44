import { describe, expect, it } from 'vitest';
import { WORKER_MEMORY_FLAGS } from '../../../src/proxy/workers/exec-argv.ts';
import { runModuleScript } from '../../helpers/module-script.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const HARD_TRIGGER = '--incremental-marking-hard-trigger=5';

describe('dropStartupCode', () => {
  it('drops the compiled code of functions that ran and are not running, which still run after', async () => {
    const script = `
      import { getHeapStatistics } from 'node:v8';
      import { runInNewContext } from 'node:vm';
      import { dropStartupCode } from './src/proxy/heap-collections.ts';
      const gc = runInNewContext('gc');
      const used = () => { gc(); gc(); return getHeapStatistics().used_heap_size; };
      // Code that runs once while a process starts, with a lot of bytecode.
      const body = Array.from({ length: 8000 }, (_, i) => 'total += (input * ' + i + ') % ' + (i + 7) + ';');
      const startup = new Function('input', 'let total = 0;\\n' + body.join('\\n') + '\\nreturn total;');
      const first = startup(3);
      used(); // what the loader left behind settles first
      const kept = used();
      const keptAgain = used();
      dropStartupCode();
      const dropped = used();
      console.log(JSON.stringify({ kept, keptAgain, dropped, same: startup(3) === first }));
    `;
    const { kept, keptAgain, dropped, same } = await runModuleScript<Record<string, number>>(script, [
      '--expose-gc',
      ...WORKER_MEMORY_FLAGS,
    ]);
    // Collections alone keep it (bytecode is kept, as for a proxy); the drop does not.
    expect(Math.abs(kept - keptAgain)).toBeLessThan(64 * KiB);
    expect(kept - dropped).toBeGreaterThan(256 * KiB);
    expect(same).toBe(true);
  });
});

describe("a proxy's heap settings", () => {
  // A live old generation past V8's 8 MB (below which it starts no incremental marking), then ~12 MB
  // promoted in 100 KB steps that die right after: how far the old generation grows past its start.
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { setImmediate as tick } from 'node:timers/promises';
    const OLD = new Set(['old_space', 'code_space', 'large_object_space']);
    const oldGeneration = () =>
      getHeapSpaceStatistics().filter((s) => OLD.has(s.space_name)).reduce((n, s) => n + s.space_used_size, 0);
    const live = Array.from({ length: 9000 }, (_, i) => ({ i, pad: new Array(120).fill(i) }));
    for (let i = 0; i < 40; i++) await tick();
    const start = oldGeneration();
    let peak = start;
    let young = 0;
    for (let step = 0; step < 120; step++) {
      let held = Array.from({ length: 100 }, (_, i) => new Array(120).fill(step + i));
      // Two young collections' worth of short-lived objects: held is promoted.
      for (let j = 0; j < 4000; j++) young += new Array(128).fill(j).length;
      held = null;
      peak = Math.max(peak, oldGeneration());
      await tick();
    }
    console.log(JSON.stringify({ grew: peak - start, live: live.length + (young > 0 ? 0 : 1) }));
  `;

  it("start a full collection ~1 MB of promotion after the last one, not at V8's own limit", async () => {
    expect(WORKER_MEMORY_FLAGS).toContain(HARD_TRIGGER);
    const withTrigger = await runModuleScript<{ grew: number }>(script, WORKER_MEMORY_FLAGS);
    const withoutTrigger = await runModuleScript<{ grew: number }>(
      script,
      WORKER_MEMORY_FLAGS.filter((flag) => flag !== HARD_TRIGGER),
    );
    expect(withTrigger.grew).toBeLessThan(3 * MiB);
    expect(withoutTrigger.grew).toBeGreaterThan(6 * MiB);
  });
});
