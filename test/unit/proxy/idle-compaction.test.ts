import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../../src/core/index.ts';
import { startIdleCompaction } from '../../../src/proxy/idle-compaction.ts';
import { WORKER_MEMORY_FLAGS } from '../../../src/proxy/workers/exec-argv.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { runModuleScript } from '../../helpers/module-script.ts';

const MiB = 1024 * 1024;
const logger = createJsonLogger({ level: 'silent' });

/** A process whose event loop and heap the test sets, and a count of compactions. */
function scene() {
  const clock = createFakeClock();
  const state = { busy: 0.5, committed: 10 * MiB, compactions: 0 };
  const compaction = startIdleCompaction({
    logger,
    clock,
    utilization: () => state.busy,
    committedHeap: () => state.committed,
    compact: () => {
      state.compactions++;
      state.committed = 8 * MiB;
    },
  });
  return { clock, state, compaction };
}

describe('idle compaction', () => {
  it('compacts once the event loop has been quiet for 5 s and the heap has grown 1 MiB', () => {
    const { clock, state, compaction } = scene();
    state.committed = 14 * MiB;
    clock.advance(10_000);
    expect(state.compactions).toBe(0);

    state.busy = 0.01;
    clock.advance(4_000);
    expect(state.compactions).toBe(0);
    clock.advance(1_000);
    expect(state.compactions).toBe(1);
    expect(compaction.runs).toBe(1);
    compaction.stop();
  });

  it('never compacts while the event loop is busy, however far the heap grows', () => {
    const { clock, state, compaction } = scene();
    state.busy = 0.03;
    state.committed = 40 * MiB;
    clock.advance(60_000);
    expect(state.compactions).toBe(0);
    compaction.stop();
  });

  it('leaves a heap alone that is less than 1 MiB above its lowest', () => {
    const { clock, state, compaction } = scene();
    state.committed = 9 * MiB;
    clock.advance(1_000);
    state.busy = 0;
    state.committed = 10 * MiB - 1;
    clock.advance(30_000);
    expect(state.compactions).toBe(0);
    state.committed = 10 * MiB;
    clock.advance(1_000);
    expect(state.compactions).toBe(1);
    compaction.stop();
  });

  it('compacts again only after the heap has grown past what the last compaction left', () => {
    const { clock, state, compaction } = scene();
    state.busy = 0;
    state.committed = 12 * MiB;
    clock.advance(5_000);
    expect(state.compactions).toBe(1);
    // The compaction left 8 MiB; quiet with 8.5 MiB is no reason for another.
    state.committed = 8.5 * MiB;
    clock.advance(60_000);
    expect(state.compactions).toBe(1);
    // A burst, then quiet again.
    state.busy = 0.9;
    state.committed = 11 * MiB;
    clock.advance(3_000);
    state.busy = 0;
    clock.advance(5_000);
    expect(state.compactions).toBe(2);
    compaction.stop();
  });

  it('stops looking when stopped', () => {
    const { clock, state, compaction } = scene();
    compaction.stop();
    state.busy = 0;
    state.committed = 30 * MiB;
    clock.advance(60_000);
    expect(state.compactions).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("gives back the pages a regular full collection keeps (V8's heap, in a proxy's heap settings)", async () => {
    // Objects promoted to the old generation, two of every three dropped: each page keeps a third of
    // its objects, which a regular full collection leaves where they are.
    const script = `
      import { getHeapStatistics } from 'node:v8';
      import { runInNewContext } from 'node:vm';
      import { compactingCollection } from './src/proxy/heap-collections.ts';
      const compact = compactingCollection();
      const gc = runInNewContext('gc');
      const free = () => { const s = getHeapStatistics(); return s.total_heap_size - s.used_heap_size; };
      let all = [];
      for (let i = 0; i < 200000; i++) all.push({ i, s: 'item-' + i + '-' + 'x'.repeat(16) });
      gc(); gc();
      const kept = all.filter((_, i) => i % 3 === 0);
      all = null;
      gc();
      const regular = free();
      compact();
      const compacted = free();
      console.log(JSON.stringify({ regular, compacted, kept: kept.length }));
    `;
    const { regular, compacted, kept } = await runModuleScript<Record<string, number>>(
      script,
      WORKER_MEMORY_FLAGS,
    );
    expect(kept).toBe(66_667);
    // Committed but unused heap: what the regular collection left, then what compacting left.
    expect(regular).toBeGreaterThan(4 * MiB);
    expect(compacted).toBeLessThan(regular / 2);
  });
});
