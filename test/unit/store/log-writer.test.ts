import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogWriter } from '../../../src/store/memory/log-writer.ts';
import { decodeRecords, encodeRecord } from '../../../src/store/memory/wal-codec.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-log-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const frame = (revision: number) =>
  encodeRecord({ revision, ops: [{ op: 'put', key: `k${revision}`, value: 'v' }] });
const revisions = async (path: string) => decodeRecords(await readFile(path)).records.map((r) => r.revision);

describe('LogWriter', () => {
  it('acknowledges in order and shares syncs among concurrent appends', async () => {
    const writer = await LogWriter.create(join(dir, 'a.log'));
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => writer.append(frame(i + 1)).then(() => order.push(i + 1))),
    );
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(writer.stats()).toMatchObject({ records: 100 });
    expect(writer.stats().syncs).toBeLessThan(10);
    await writer.close();
    expect(await revisions(join(dir, 'a.log'))).toEqual(order);
  });

  it('puts everything appended before rotate() in the old segment and everything after in the new', async () => {
    const writer = await LogWriter.create(join(dir, 'a.log'));
    const pending = [writer.append(frame(1)), writer.append(frame(2))];
    pending.push(writer.rotate(join(dir, 'b.log')));
    pending.push(writer.append(frame(3)), writer.append(frame(4)));
    await Promise.all(pending);
    await writer.close();
    expect(await revisions(join(dir, 'a.log'))).toEqual([1, 2]);
    expect(await revisions(join(dir, 'b.log'))).toEqual([3, 4]);
  });

  it('fails every later append once a segment cannot be created', async () => {
    const writer = await LogWriter.create(join(dir, 'a.log'));
    await expect(writer.rotate(join(dir, 'missing-dir', 'b.log'))).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    expect(writer.failed).toBeDefined();
    await expect(writer.append(frame(1))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await writer.close();
  });

  it('rejects appends after close with STORE_CLOSED', async () => {
    const writer = await LogWriter.create(join(dir, 'a.log'));
    const last = writer.append(frame(1));
    await writer.close();
    await last;
    await expect(writer.append(frame(2))).rejects.toMatchObject({ code: 'STORE_CLOSED' });
  });
});
