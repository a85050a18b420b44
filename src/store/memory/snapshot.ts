import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../../core/index.ts';
import type { KeyValue } from '../store.ts';
import { syncDir, writeFully } from './fs-sync.ts';

const SNAPSHOT_FILE = 'snapshot.json';
const FORMAT = 1;

/** The whole store at one revision, and the first log segment that holds records after it. */
export interface SnapshotImage {
  revision: number;
  /** Replay log segments numbered from this one; older segments are already in the snapshot. */
  nextSegment: number;
  keys: KeyValue[];
  leases: { id: string; ttl: number }[];
}

/** Atomically replaces the snapshot: temp file, fsync, rename, fsync the directory. */
export async function writeSnapshot(dir: string, image: SnapshotImage): Promise<void> {
  const path = join(dir, SNAPSHOT_FILE);
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await writeFully(handle, Buffer.from(JSON.stringify({ format: FORMAT, ...image }), 'utf8'));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDir(dir);
}

/** Reads the snapshot if there is one; a leftover temp file from a crash is removed. */
export async function readSnapshot(dir: string): Promise<SnapshotImage | undefined> {
  const path = join(dir, SNAPSHOT_FILE);
  await rm(`${path}.tmp`, { force: true });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: SnapshotImage & { format?: number };
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MeshError(
      'INTERNAL',
      `The store snapshot ${path} is not valid JSON; restore it from a backup.`,
      {
        cause: error,
      },
    );
  }
  if (parsed.format !== FORMAT) {
    throw new MeshError(
      'INTERNAL',
      `The store snapshot ${path} has unknown format ${String(parsed.format)}.`,
    );
  }
  return {
    revision: parsed.revision,
    nextSegment: parsed.nextSegment,
    keys: parsed.keys,
    leases: parsed.leases,
  };
}
