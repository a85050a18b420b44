/**
 * Batches finished spans for a transport (OTLP/HTTP, or a collector in the same process) so that
 * recording a span costs one array push: a bounded queue (a full queue drops and counts, so a slow
 * collector never slows traffic), batches of at most `maxBatchSize` sent when a batch is full or
 * every `flushIntervalMs`, one request at a time, retried with jittered exponential back-off when
 * the transport says the failure is retryable, and a bounded flush on close.
 */
import { backoffDelay, type Clock, systemClock, type TimerHandle } from '../../core/index.ts';
import type { SpanData, SpanSink } from './span.ts';

export interface SpanTransport {
  /** Resolves when the batch is accepted; rejects with an ExportError (retryable or not). */
  send(batch: SpanData[]): Promise<void>;
  close?(): void;
}

export class ExportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** From a Retry-After header. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExportError';
  }
}

export interface BatchExporterOptions {
  transport: SpanTransport;
  /** Spans waiting beyond this are dropped (default 2048). */
  maxQueueSize?: number;
  /** Default 512. */
  maxBatchSize?: number;
  /** Default 1 s. */
  flushIntervalMs?: number;
  /** Retries of one batch after the first try (default 5). */
  maxRetries?: number;
  /** Default 100 ms. */
  backoffBaseMs?: number;
  /** Default 5 s (and the cap on a Retry-After). */
  backoffMaxMs?: number;
  /** How long close() keeps trying to deliver what is queued (default 5 s). */
  closeTimeoutMs?: number;
  clock?: Clock;
  random?: () => number;
  /** Told about batches given up on; never throws into the caller. */
  onError?: (error: Error, spans: number) => void;
}

export interface ExporterStats {
  queued: number;
  exported: number;
  /** Refused because the queue was full or the exporter closed. */
  dropped: number;
  /** Given up on after a non-retryable error or the last retry. */
  failed: number;
  retries: number;
  batches: number;
}

export class BatchExporter implements SpanSink {
  private readonly transport: SpanTransport;
  private readonly maxQueueSize: number;
  private readonly maxBatchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxRetries: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly closeTimeoutMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly onError: ((error: Error, spans: number) => void) | undefined;

  private queue: SpanData[] = [];
  private timer: TimerHandle | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private sending: Promise<void> | undefined;
  private sendAll = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Set while closing: retries stop waiting past it. */
  private deadline = Number.POSITIVE_INFINITY;
  private readonly counts = { exported: 0, dropped: 0, failed: 0, retries: 0, batches: 0 };

  constructor(options: BatchExporterOptions) {
    this.transport = options.transport;
    this.maxQueueSize = options.maxQueueSize ?? 2048;
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? 512);
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxRetries = options.maxRetries ?? 5;
    this.backoffBaseMs = options.backoffBaseMs ?? 100;
    this.backoffMaxMs = options.backoffMaxMs ?? 5000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onError = options.onError;
  }

  export(span: SpanData): void {
    if (this.closed || this.queue.length >= this.maxQueueSize) {
      this.counts.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.maxBatchSize) {
      // Sending is encoding and I/O: never on the caller's stack (a proxy's request path).
      if (this.sending === undefined && this.immediate === undefined) {
        this.immediate = setImmediate(() => {
          this.immediate = undefined;
          void this.kick(false);
        });
      }
    } else if (this.timer === undefined && this.sending === undefined) {
      this.arm();
    }
  }

  /** Sends everything queued now; resolves when it was delivered or given up on. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.sending !== undefined) {
      await (this.sending ?? this.kick(true));
    }
  }

  /** Stops accepting spans and delivers what is queued, waiting at most `closeTimeoutMs`. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.deadline = this.clock.now() + this.closeTimeoutMs;
      this.disarm();
      if (this.immediate !== undefined) clearImmediate(this.immediate);
      this.immediate = undefined;
      try {
        await this.flush();
      } finally {
        this.transport.close?.();
      }
    })();
    return this.closing;
  }

  stats(): ExporterStats {
    return { queued: this.queue.length, ...this.counts };
  }

  private arm(): void {
    const timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.kick(true);
    }, this.flushIntervalMs);
    timer.unref?.();
    this.timer = timer;
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private kick(all: boolean): Promise<void> {
    if (all) this.sendAll = true;
    if (this.sending !== undefined) return this.sending;
    this.disarm();
    const sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.closed || this.queue.length === 0) return;
      if (this.queue.length >= this.maxBatchSize) void this.kick(false);
      else this.arm();
    });
    this.sending = sending;
    return sending;
  }

  private async drain(): Promise<void> {
    while (this.queue.length >= this.maxBatchSize || (this.sendAll && this.queue.length > 0)) {
      const batch =
        this.queue.length <= this.maxBatchSize ? this.queue : this.queue.slice(0, this.maxBatchSize);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatchSize);
      await this.deliver(batch);
    }
    this.sendAll = false;
  }

  private async deliver(batch: SpanData[]): Promise<void> {
    this.counts.batches++;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.transport.send(batch);
        this.counts.exported += batch.length;
        return;
      } catch (thrown) {
        const error = thrown instanceof Error ? thrown : new Error(String(thrown));
        const retryable = error instanceof ExportError && error.retryable;
        const delay = this.retryDelay(error, attempt);
        if (!retryable || attempt >= this.maxRetries || this.clock.now() + delay > this.deadline) {
          this.counts.failed += batch.length;
          this.onError?.(error, batch.length);
          return;
        }
        this.counts.retries++;
        await this.sleep(delay);
      }
    }
  }

  private retryDelay(error: Error, attempt: number): number {
    const hinted = error instanceof ExportError ? error.retryAfterMs : undefined;
    if (hinted !== undefined) return Math.min(hinted, this.backoffMaxMs);
    return backoffDelay(this.backoffBaseMs, this.backoffMaxMs, attempt + 1, this.random);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(resolve, ms);
      // While closing, the wait is bounded by the deadline and must keep the process alive.
      if (!this.closed) timer.unref?.();
    });
  }
}

export function createBatchExporter(options: BatchExporterOptions): BatchExporter {
  return new BatchExporter(options);
}
