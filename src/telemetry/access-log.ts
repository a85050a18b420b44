/**
 * The access log: one JSON line per request, written by pino to stdout or a file (one logger per
 * proxy, never a global one).
 *
 * A proxy gets an `AccessLog` from `openAccessLog()`. When `enabled` is false (destination `off`)
 * it must not build records at all. Otherwise it takes one record per connection from `record()`,
 * fills the fields as the exchange goes, calls `log(record)` when the exchange ends and then
 * `resetAccessRecord(record)` before the next request on that connection. `log()` serialises the
 * record synchronously, so the record may be reused as soon as it returns.
 *
 * Writes are asynchronous: lines collect in memory and go to the destination in batches (at least
 * every `flushIntervalMs`). The memory is bounded by `maxBufferBytes`: when the destination cannot
 * keep up (a slow disk, a blocked pipe) and the buffer is full, new lines are dropped, not queued;
 * they are counted in `dropped()` and a warning goes to `logger` at most once per 10 s. Traffic
 * never waits for the log.
 */
import { once } from 'node:events';
import { type DestinationStream, pino } from 'pino';
import type { Logger } from '../core/index.ts';
import { type AccessLogDestination, type AccessRecord, createAccessRecord } from './access-record.ts';
import type { Direction } from './names.ts';

export {
  type AccessLogDestination,
  type AccessRecord,
  createAccessRecord,
  resetAccessRecord,
} from './access-record.ts';

export interface AccessLogOptions {
  destination: AccessLogDestination;
  /** Fixed fields on every line, e.g. `{ proxy: 'gateway' }`. */
  fields?: Record<string, string>;
  /** Log text waiting to be written, at most; beyond it lines are dropped. Default 8 MiB. */
  maxBufferBytes?: number;
  /** Lines waiting are written at least this often; default 1 s. */
  flushIntervalMs?: number;
  /** Where warnings about dropped lines and write errors go. */
  logger?: Logger;
}

export interface AccessLog {
  /** False for `off`: do not build records. */
  readonly enabled: boolean;
  /** A new record to fill and reuse (one per connection). */
  record(direction: Direction): AccessRecord;
  log(record: AccessRecord): void;
  /** Lines dropped because the buffer was full (or the destination failed). */
  dropped(): number;
  /** Resolves once every line logged so far has been written. */
  flush(): Promise<void>;
  /** Flushes and closes the destination (stdout stays open). */
  close(): Promise<void>;
}

const DEFAULT_MAX_BUFFER_BYTES = 8 * 1024 * 1024;
/** Writes are batched up to this size, so busy traffic costs one write call per batch. */
const BATCH_BYTES = 4096;
const WARN_INTERVAL_MS = 10_000;

const DISABLED: AccessLog = {
  enabled: false,
  record: createAccessRecord,
  log() {},
  dropped: () => 0,
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** Opens the destination (a file is created with its directories); rejects when it cannot be opened. */
export async function openAccessLog(options: AccessLogOptions): Promise<AccessLog> {
  const { destination } = options;
  if (destination === 'off') return DISABLED;
  if (destination === '') throw new Error('access log: the destination is empty');
  const sonic = pino.destination({
    dest: destination === 'stdout' ? 1 : destination,
    sync: false,
    mkdir: true,
    minLength: BATCH_BYTES,
    maxLength: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
    periodicFlush: options.flushIntervalMs ?? 1_000,
  });
  const warn = options.logger;
  let dropped = 0;
  let warnedAt = 0;
  let closed: Promise<void> | undefined;

  const warnDropped = (reason: string, error?: unknown) => {
    const now = Date.now();
    if (now - warnedAt < WARN_INTERVAL_MS) return;
    warnedAt = now;
    warn?.warn({ err: error, destination, dropped }, `access log: ${reason}`);
  };
  sonic.on('drop', () => {
    dropped++;
    warnDropped('the destination is not keeping up; lines dropped');
  });

  try {
    await once(sonic, 'ready'); // rejects on 'error'
  } catch (error) {
    throw new Error(`access log: cannot open ${destination}: ${(error as Error).message}`, { cause: error });
  }
  // Later write errors must not crash the process; the lines in that write are lost.
  sonic.on('error', (error: Error) => {
    dropped++;
    warnDropped('a write failed', error);
  });

  const logger = pino(
    {
      base: options.fields ?? null,
      formatters: { level: () => ({ type: 'access' }) },
    },
    sonic as unknown as DestinationStream,
  );

  return {
    enabled: true,
    record: createAccessRecord,
    log(record) {
      if (closed) return;
      record.durationMs = Math.round(record.durationMs * 1000) / 1000;
      logger.info(record);
    },
    dropped: () => dropped,
    flush() {
      if (closed) return closed;
      return new Promise((resolve) => sonic.flush(() => resolve()));
    },
    close() {
      closed ??= (async () => {
        const done = once(sonic, 'close');
        sonic.end();
        await done;
      })();
      return closed;
    },
  };
}
