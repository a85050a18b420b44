import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshError } from '../../core/index.ts';
import { syncDir, writeFully } from './fs-sync.ts';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

type Item =
  | { kind: 'data'; buffer: Buffer; waiter: Waiter }
  | { kind: 'rotate'; path: string; waiter: Waiter };

export interface LogWriterStats {
  records: number;
  syncs: number;
  bytes: number;
}

/**
 * Appends records to a log segment and acknowledges each one only after an fdatasync covers it.
 * Group commit: everything appended while a write+sync is in flight goes out together in the next
 * one, so many concurrent writers share each sync. Rotation is queued like a record, so every record
 * appended before `rotate()` lands in the old segment and every record after it in the new one.
 */
export class LogWriter {
  private queue: Item[] = [];
  private running: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  private readonly counters: LogWriterStats = { records: 0, syncs: 0, bytes: 0 };

  private constructor(private handle: FileHandle) {}

  /** Creates a new, empty segment (it must not exist) and makes its directory entry durable. */
  static async create(path: string): Promise<LogWriter> {
    return new LogWriter(await createSegment(path));
  }

  /** The error that broke the log, if a write or sync failed; every later append rejects with it. */
  get failed(): Error | undefined {
    return this.failure;
  }

  stats(): LogWriterStats {
    return { ...this.counters };
  }

  append(buffer: Buffer): Promise<void> {
    return this.enqueue((waiter) => ({ kind: 'data', buffer, waiter }));
  }

  /** Switches to a new segment once everything appended so far is durable in the current one. */
  rotate(path: string): Promise<void> {
    return this.enqueue((waiter) => ({ kind: 'rotate', path, waiter }));
  }

  /** Flushes what is queued, then closes the segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.running) await this.running;
    await this.handle.close().catch(() => undefined);
  }

  private enqueue(make: (waiter: Waiter) => Item): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new MeshError('STORE_CLOSED', 'The store was closed.'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push(make({ resolve, reject }));
      // Start on a microtask, so writes issued in the same tick share the first sync too.
      this.running ??= Promise.resolve().then(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.failure) {
        const head = this.queue[0];
        if (head.kind === 'rotate') {
          this.queue.shift();
          await this.switchSegment(head);
          continue;
        }
        let count = 0;
        while (count < this.queue.length && this.queue[count].kind === 'data') count++;
        const batch = this.queue.splice(0, count) as Extract<Item, { kind: 'data' }>[];
        await this.writeBatch(batch);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async writeBatch(batch: Extract<Item, { kind: 'data' }>[]): Promise<void> {
    const buffer = batch.length === 1 ? batch[0].buffer : Buffer.concat(batch.map((item) => item.buffer));
    try {
      await writeFully(this.handle, buffer);
      await this.handle.datasync();
    } catch (error) {
      this.fail(error, batch);
      return;
    }
    this.counters.records += batch.length;
    this.counters.syncs += 1;
    this.counters.bytes += buffer.length;
    for (const item of batch) item.waiter.resolve();
  }

  private async switchSegment(item: Extract<Item, { kind: 'rotate' }>): Promise<void> {
    try {
      await this.handle.close();
      this.handle = await createSegment(item.path);
    } catch (error) {
      this.fail(error, [item]);
      return;
    }
    item.waiter.resolve();
  }

  /** A failed write or sync leaves the file in an unknown state: refuse everything from now on. */
  private fail(cause: unknown, inFlight: Item[]): void {
    const message = cause instanceof Error ? cause.message : String(cause);
    this.failure = new MeshError('STORE_UNAVAILABLE', `The write-ahead log failed: ${message}`, { cause });
    for (const item of [...inFlight, ...this.queue.splice(0)]) item.waiter.reject(this.failure);
  }
}

async function createSegment(path: string): Promise<FileHandle> {
  const handle = await open(path, 'wx');
  await syncDir(dirname(path));
  return handle;
}
