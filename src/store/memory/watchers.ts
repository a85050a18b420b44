import type { Logger } from 'pino';
import { MeshError } from '../../core/index.ts';
import type { Watch, WatchEvent, WatchHandlers } from '../store.ts';
import { eventRevision, type History } from './history.ts';

/** Upper bound on events in one onEvents call (a revision is never split). */
const MAX_BATCH = 1000;

interface Watcher {
  readonly prefix: string;
  readonly handlers: WatchHandlers;
  /** Every event up to this revision has been delivered (or did not match the prefix). */
  cursor: number;
  closed: boolean;
}

/**
 * Prefix watches over the retained history. Delivery runs later on its own turn of the event loop,
 * so a slow handler never holds up a writer, and only reaches `visibleRevision`: the store moves it
 * forward once a write is durable, so no watcher ever sees a write that a crash could undo.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private visible = 0;
  private scheduled = false;

  constructor(
    private readonly history: History,
    private readonly logger?: Logger,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  get visibleRevision(): number {
    return this.visible;
  }

  /** Makes every event up to `revision` deliverable. */
  advance(revision: number): void {
    if (revision <= this.visible) return;
    this.visible = revision;
    this.schedule();
  }

  add(prefix: string, handlers: WatchHandlers, afterRevision: number): Watch {
    const watcher: Watcher = { prefix, handlers, cursor: afterRevision, closed: false };
    this.watchers.add(watcher);
    this.schedule();
    return {
      close: async () => {
        watcher.closed = true;
        this.watchers.delete(watcher);
      },
    };
  }

  /** Delivers what is deliverable now, then ends every watch with `error`. */
  closeAll(error: Error): void {
    this.flush(Number.POSITIVE_INFINITY);
    for (const watcher of [...this.watchers]) this.end(watcher, error);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.flush(MAX_BATCH)) this.schedule();
    });
  }

  /** One round of delivery; returns true when some watcher still has events waiting. */
  private flush(limit: number): boolean {
    let behind = false;
    for (const watcher of [...this.watchers]) {
      if (watcher.closed || watcher.cursor >= this.visible) continue;
      if (watcher.cursor < this.history.compactedThrough) {
        this.end(
          watcher,
          new MeshError(
            'COMPACTED',
            `Revision ${watcher.cursor} is older than the retained history (compacted through ` +
              `${this.history.compactedThrough}); list again and watch from the list's revision.`,
          ),
        );
        continue;
      }
      const events = this.history.between(watcher.cursor, this.visible, limit);
      const last = events.length > 0 ? eventRevision(events[events.length - 1]) : this.visible;
      const reachedEnd = events.length < limit || last >= this.visible;
      watcher.cursor = reachedEnd ? this.visible : last;
      if (!reachedEnd) behind = true;
      const matching =
        watcher.prefix === '' ? events : events.filter((e) => keyOf(e).startsWith(watcher.prefix));
      if (matching.length > 0) this.call(watcher, matching);
    }
    return behind;
  }

  private call(watcher: Watcher, events: WatchEvent[]): void {
    try {
      watcher.handlers.onEvents(events);
    } catch (error) {
      this.logger?.error({ err: error, prefix: watcher.prefix }, 'store: a watch handler threw');
    }
  }

  private end(watcher: Watcher, error: Error): void {
    watcher.closed = true;
    this.watchers.delete(watcher);
    try {
      watcher.handlers.onError?.(error);
    } catch (handlerError) {
      this.logger?.error({ err: handlerError, prefix: watcher.prefix }, 'store: a watch error handler threw');
    }
  }
}

function keyOf(event: WatchEvent): string {
  return event.type === 'put' ? event.kv.key : event.key;
}
