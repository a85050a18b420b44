import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './fs-sync.ts';

/** Log segments are `wal-<16-digit number>.log`; a snapshot names the first segment after it. */
const SEGMENT_PATTERN = /^wal-(\d{16})\.log$/;

export function segmentPath(dir: string, segment: number): string {
  return join(dir, `wal-${String(segment).padStart(16, '0')}.log`);
}

/** Segment numbers present in `dir`, ascending. */
export async function listSegments(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .map((name) => SEGMENT_PATTERN.exec(name))
    .filter((match) => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
}

/** Deletes segments a snapshot has made redundant. */
export async function removeSegmentsBefore(dir: string, segment: number): Promise<void> {
  const stale = (await listSegments(dir)).filter((n) => n < segment);
  for (const n of stale) await rm(segmentPath(dir, n), { force: true });
  if (stale.length > 0) await syncDir(dir);
}
