import type { WatchEvent } from '../store.ts';

export function eventRevision(event: WatchEvent): number {
  return event.type === 'put' ? event.kv.modRevision : event.modRevision;
}

/**
 * The retained change history: every event of the last `size` revisions, in revision order.
 * Events at or below `compactedThrough` are gone; a watch must start at or after it.
 */
export class History {
  private events: WatchEvent[] = [];
  /** Index of the first retained event in `events` (dropping from the front is amortized). */
  private head = 0;
  private compacted = 0;

  constructor(private readonly size: number) {}

  /** The newest revision whose events are no longer retained (0 when nothing was dropped). */
  get compactedThrough(): number {
    return this.compacted;
  }

  /** Appends events of a new revision, dropping revisions that fall out of the retained window. */
  append(events: WatchEvent[], revision: number): void {
    for (const event of events) this.events.push(event);
    if (revision - this.compacted > this.size) this.compact(revision - this.size);
  }

  /** Forgets every event at or below `revision` (like etcd's compaction of revisions < revision+1). */
  compact(revision: number): void {
    if (revision <= this.compacted) return;
    this.compacted = revision;
    this.head = this.indexAfter(revision);
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }

  /** Retained events with afterRevision < revision <= upTo (the caller checks compaction first). */
  between(afterRevision: number, upTo: number, limit = Number.POSITIVE_INFINITY): WatchEvent[] {
    const out: WatchEvent[] = [];
    for (let i = this.indexAfter(afterRevision); i < this.events.length; i++) {
      const event = this.events[i];
      const revision = eventRevision(event);
      if (revision > upTo) break;
      // Never split a revision across batches: stop only at a revision boundary.
      if (out.length >= limit && revision !== eventRevision(out[out.length - 1])) break;
      out.push(event);
    }
    return out;
  }

  /** Index of the first retained event with a revision greater than `revision`. */
  private indexAfter(revision: number): number {
    let low = this.head;
    let high = this.events.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (eventRevision(this.events[mid]) <= revision) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
