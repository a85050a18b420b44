import { open, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { MeshError } from '../../core/index.ts';
import { listSegments, removeSegmentsBefore, segmentPath } from './segments.ts';
import { readSnapshot, type SnapshotImage } from './snapshot.ts';
import { decodeRecords, type WalRecord } from './wal-codec.ts';

export interface Recovered {
  snapshot?: SnapshotImage;
  /** Log records after the snapshot, in order. */
  records: WalRecord[];
  /** The number for the segment to write next (greater than every existing one). */
  nextSegment: number;
}

/**
 * Reads what a previous run left in `dir`: the latest snapshot, then every log segment after it.
 * Segments the snapshot already covers are deleted (a crash can leave them behind). A torn or corrupt
 * tail of the newest segment is what a crash mid-write leaves, so it is truncated and start-up goes
 * on; damage anywhere else means acknowledged data is unreadable, and start-up stops.
 */
export async function recover(dir: string, logger?: Logger): Promise<Recovered> {
  const snapshot = await readSnapshot(dir);
  const firstSegment = snapshot?.nextSegment ?? 0;
  await removeSegmentsBefore(dir, firstSegment);
  const segments = await listSegments(dir);
  const live = segments.filter((segment) => segment >= firstSegment);
  const records: WalRecord[] = [];
  for (const [index, segment] of live.entries()) {
    const path = segmentPath(dir, segment);
    const buffer = await readFile(path);
    const decoded = decodeRecords(buffer);
    for (const record of decoded.records) records.push(record);
    if (decoded.problem === undefined) continue;
    if (index !== live.length - 1) {
      throw new MeshError(
        'INTERNAL',
        `Write-ahead log segment ${path} is damaged (${decoded.problem}) and is not the newest; ` +
          'restore the data directory from a backup.',
      );
    }
    logger?.warn(
      { path, problem: decoded.problem, droppedBytes: buffer.length - decoded.validBytes },
      'store: truncating the torn tail of the write-ahead log',
    );
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(decoded.validBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  const newest = Math.max(firstSegment - 1, ...segments);
  return { snapshot, records, nextSegment: newest + 1 };
}
