import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../../src/core/index.ts';
import { MemoryStore, type MemoryStoreOptions, type WatchEvent } from '../../../src/store/index.ts';

const logger = pino({ level: 'silent' });
const ROOT = join(import.meta.dirname, '../../..');

/** A clock that only moves when told to, firing due timers in order. */
class ManualClock implements Clock {
  private time = 1_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn });
    return { id } as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete((handle as { id: number }).id);
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].fn();
    }
    this.time = end;
  }
}

let dataDir: string;
const open: MemoryStore[] = [];

async function openStore(options: Partial<MemoryStoreOptions> = {}): Promise<MemoryStore> {
  const store = await MemoryStore.open({ dataDir, logger, ...options });
  open.push(store);
  return store;
}

async function segments(): Promise<string[]> {
  return (await readdir(dataDir)).filter((name) => name.startsWith('wal-')).sort();
}

/** The newest segment that has data (a fresh empty one is created on every open). */
async function newestNonEmptySegment(): Promise<string> {
  for (const name of (await segments()).reverse()) {
    if ((await stat(join(dataDir, name))).size > 0) return join(dataDir, name);
  }
  throw new Error('no log segment with data');
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'trellis-durability-'));
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('MemoryStore durability', () => {
  it('keeps data across close and reopen, and continues the revision', async () => {
    const first = await openStore();
    await first.put('a', '1');
    await first.put('a', '2');
    await first.put('b', '1');
    await first.put('gone', 'x');
    const { revision } = await first.delete('gone');
    const before = await first.list('');
    await first.close();

    const second = await openStore();
    expect(await second.list('')).toEqual(before);
    expect(await second.revision()).toBe(revision);
    expect((await second.put('c', '1')).revision).toBe(revision + 1);
    expect(await second.get('a')).toMatchObject({
      value: '2',
      version: 2,
      createRevision: 1,
      modRevision: 2,
    });
  });

  it('acknowledges writes issued just before close', async () => {
    const store = await openStore();
    const writes = Array.from({ length: 200 }, (_, i) => store.put(`k/${i}`, String(i)));
    await store.close();
    const results = await Promise.all(writes);
    expect(results.map((r) => r.revision)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const reopened = await openStore();
    expect((await reopened.list('k/')).items).toHaveLength(200);
  });

  it('tolerates a torn last record: earlier records are intact and writing goes on', async () => {
    const first = await openStore();
    for (let i = 1; i <= 20; i++) await first.put(`t/${i}`, `v${i}`);
    await first.close();
    const segment = await newestNonEmptySegment();
    await truncate(segment, (await stat(segment)).size - 3);

    const second = await openStore();
    expect(await second.revision()).toBe(19);
    expect((await second.list('t/')).items.map((kv) => kv.value)).toHaveLength(19);
    expect(await second.get('t/20')).toBeUndefined();
    expect(await second.get('t/19')).toMatchObject({ value: 'v19' });
    expect((await second.put('t/20', 'again')).revision).toBe(20);
    await second.close();

    // The truncated segment is no longer the newest: it must have been repaired, not left torn.
    const third = await openStore();
    expect(await third.get('t/20')).toMatchObject({ value: 'again', modRevision: 20 });
  });

  it('tolerates garbage appended after the last record', async () => {
    const first = await openStore();
    for (let i = 1; i <= 10; i++) await first.put(`g/${i}`, `v${i}`);
    await first.close();
    await appendFile(await newestNonEmptySegment(), Buffer.from([0x20, 0, 0, 0, 1, 2, 3, 4, 5, 6]));

    const second = await openStore();
    expect(await second.revision()).toBe(10);
    expect((await second.list('g/')).items).toHaveLength(10);
    await second.put('g/11', 'v11');
    await second.close();
    const third = await openStore();
    expect(await third.revision()).toBe(11);
  });

  it('refuses to start when a segment other than the newest is damaged', async () => {
    const first = await openStore();
    for (let i = 1; i <= 5; i++) await first.put(`d/${i}`, 'v');
    await first.close();
    const damaged = await newestNonEmptySegment();
    const second = await openStore();
    await second.put('d/6', 'v');
    await second.close();
    await truncate(damaged, (await stat(damaged)).size - 1);
    await expect(MemoryStore.open({ dataDir, logger })).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('replays snapshot plus log across several snapshot cycles, dropping old segments', async () => {
    const expected = new Map<string, string>();
    let revision = 0;
    for (let cycle = 0; cycle < 4; cycle++) {
      const store = await openStore({ snapshotEvery: 10 });
      expect(await store.revision()).toBe(revision);
      expect(new Map((await store.list('')).items.map((kv) => [kv.key, kv.value]))).toEqual(expected);
      for (let i = 0; i < 37; i++) {
        const key = `s/${(cycle * 37 + i) % 23}`;
        if (i % 5 === 4 && expected.has(key)) {
          revision = (await store.delete(key)).revision;
          expected.delete(key);
        } else {
          revision = (await store.put(key, `${cycle}-${i}`)).revision;
          expected.set(key, `${cycle}-${i}`);
        }
      }
      await store.close();
      const names = await readdir(dataDir);
      expect(names).toContain('snapshot.json');
      expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
      expect((await segments()).length).toBeLessThanOrEqual(2);
    }
    const last = await openStore({ snapshotEvery: 10 });
    expect(new Map((await last.list('')).items.map((kv) => [kv.key, kv.value]))).toEqual(expected);
    expect(await last.revision()).toBe(revision);
  });

  it('serves watches from log records replayed after the snapshot', async () => {
    const first = await openStore({ snapshotEvery: 1000 });
    const { revision } = await first.put('r/a', '1');
    await first.put('r/b', '2');
    await first.delete('r/a');
    await first.close();
    const second = await openStore();
    const events: WatchEvent[] = [];
    await second.watch('r/', { onEvents: (batch) => events.push(...batch) }, { afterRevision: revision });
    await settle();
    expect(events).toEqual([
      { type: 'put', kv: { key: 'r/b', value: '2', createRevision: 2, modRevision: 2, version: 1 } },
      { type: 'delete', key: 'r/a', modRevision: 3 },
    ]);
  });

  it('batches concurrent writers into shared fsyncs (group commit)', async () => {
    const store = await openStore();
    const writers = 64;
    const perWriter = 60;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) await store.put(`gc/${w}`, String(i));
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const wal = store.stats().wal!;
    expect(wal.records).toBe(writers * perWriter);
    // Each sync must carry many writers' records; one sync per write would be writers × perWriter.
    expect(wal.syncs).toBeLessThan(wal.records / 8);
    console.info(
      `group commit: ${wal.records} fsync'd puts from ${writers} concurrent writers in ${seconds.toFixed(3)} s ` +
        `(${Math.round(wal.records / seconds)}/s, ${wal.syncs} fsyncs)`,
    );
  });

  it('stops serving with STORE_UNAVAILABLE when the log cannot be written', async () => {
    const store = await openStore({ snapshotEvery: 5 });
    const errors: Error[] = [];
    await store.watch('', { onEvents: () => undefined, onError: (error) => errors.push(error) });
    for (let i = 0; i < 3; i++) await store.put(`f/${i}`, 'v');
    // The next rotation has to create a segment in a directory that is gone.
    await rm(dataDir, { recursive: true, force: true });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.put(`f/x${i}`, 'v')));
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    await expect(store.put('f/after', 'v')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(store.get('f/0')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await store.isHealthy()).toBe(false);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['STORE_UNAVAILABLE']);
  });

  describe('leases across restarts', () => {
    it('restarts the TTL on reopen; a lease not kept alive expires and its expiry is logged', async () => {
      const clock = new ManualClock();
      const first = await openStore({ clock });
      const lease = await first.grantLease(10);
      await first.put('lease/k', 'v', { lease });
      clock.advance(8000);
      await first.close();

      // Down for a long time: the lease still gets a full TTL from the moment of reopening.
      clock.advance(100_000);
      const second = await openStore({ clock });
      expect(await second.get('lease/k')).toMatchObject({ value: 'v', lease });
      const events: WatchEvent[] = [];
      await second.watch('lease/', { onEvents: (batch) => events.push(...batch) });
      clock.advance(9000);
      expect(await second.get('lease/k')).toBeDefined();
      clock.advance(1500);
      expect(await second.get('lease/k')).toBeUndefined();
      await settle();
      expect(events).toEqual([{ type: 'delete', key: 'lease/k', modRevision: 2 }]);
      await expect(second.keepAlive(lease)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await second.close();

      const third = await openStore({ clock });
      expect(await third.get('lease/k')).toBeUndefined();
      expect(await third.revision()).toBe(2);
      await expect(third.keepAlive(lease)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      expect(third.stats().leases).toBe(0);
    });

    it('keeps a lease alive after restart only while it gets keep-alives', async () => {
      const clock = new ManualClock();
      const first = await openStore({ clock });
      const kept = await first.grantLease(5);
      const dropped = await first.grantLease(5);
      const revoked = await first.grantLease(5);
      await first.put('k/kept', '1', { lease: kept });
      await first.put('k/dropped', '2', { lease: dropped });
      await first.put('k/revoked', '3', { lease: revoked });
      await first.revokeLease(revoked);
      await first.close();

      const second = await openStore({ clock });
      expect((await second.list('k/')).items.map((kv) => kv.key)).toEqual(['k/dropped', 'k/kept']);
      for (let i = 0; i < 6; i++) {
        clock.advance(2000);
        await second.keepAlive(kept);
      }
      expect((await second.list('k/')).items.map((kv) => kv.key)).toEqual(['k/kept']);
      await expect(second.keepAlive(dropped)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      await expect(second.keepAlive(revoked)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
    });

    it('a lease whose time is up is expired on use even before its timer fires', async () => {
      const clock = new ManualClock();
      const store = await openStore({ clock });
      const lease = await store.grantLease(1);
      await store.put('late/k', 'v', { lease });
      // Move time without firing timers, as a busy event loop would.
      (clock as unknown as { time: number }).time += 5000;
      await expect(store.keepAlive(lease)).rejects.toMatchObject({ code: 'LEASE_NOT_FOUND' });
      expect(await store.get('late/k')).toBeUndefined();
    });
  });

  it('after a SIGKILL mid-stream, every acknowledged write is there', async () => {
    for (let round = 0; round < 3; round++) {
      const acked = await runWriterAndKill(dataDir, `r${round}`, 400 + round * 300);
      expect(acked.size).toBeGreaterThan(0);
      const store = await MemoryStore.open({ dataDir, logger });
      const items = new Map((await store.list(`crash/r${round}/`)).items.map((kv) => [kv.key, kv]));
      const revision = await store.revision();
      for (const [key, ackRevision] of acked) {
        expect(items.get(key)?.value, key).toBe(`value-of-${key}`);
        expect(items.get(key)?.modRevision).toBe(ackRevision);
        expect(revision).toBeGreaterThanOrEqual(ackRevision);
      }
      // Earlier rounds survived too.
      if (round > 0) expect((await store.list('crash/r0/')).items.length).toBeGreaterThan(0);
      await store.close();
    }
  }, 60_000);
});

/** Runs test/helpers/store-writer.ts, SIGKILLs it after `killAfter` acks, returns key → acked revision. */
async function runWriterAndKill(dir: string, runId: string, killAfter: number): Promise<Map<string, number>> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/store-writer.ts', dir, runId, '50'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid!;
  const acked = new Map<string, number>();
  let buffered = '';
  let errors = '';
  let killed = false;
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [word, key, revision] = line.split(' ');
      if (word === 'ack') acked.set(key, Number(revision));
    }
    if (!killed && acked.size >= killAfter) {
      killed = true;
      process.kill(pid, 'SIGKILL');
    }
  });
  const timer = setTimeout(() => {
    if (!killed) process.kill(pid, 'SIGKILL');
  }, 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  if (!killed) throw new Error(`store-writer ended on its own (${code ?? signal}):\n${errors}`);
  expect(signal).toBe('SIGKILL');
  return acked;
}
