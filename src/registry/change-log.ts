import { type MeshChange, MeshError } from '../core/index.ts';

/**
 * A bounded ring of recent changes, so a subscriber can resume after a revision. Every change with
 * a revision above `floor()` is still held; asking for anything older throws COMPACTED.
 */
export class ChangeLog {
  private readonly ring: (MeshChange | undefined)[];
  private head = 0; // index of the oldest change
  private size = 0;
  private floorRevision: number;

  constructor(
    private readonly capacity: number,
    startRevision: number,
  ) {
    if (capacity < 1) throw new MeshError('BAD_REQUEST', 'the change log needs a capacity of at least 1');
    this.ring = new Array(capacity);
    this.floorRevision = startRevision;
  }

  /** Changes after this revision are complete. */
  floor(): number {
    return this.floorRevision;
  }

  push(change: MeshChange): void {
    if (this.size === this.capacity) {
      const evicted = this.ring[this.head]!;
      // Changes can share a revision, so once one is gone that whole revision is incomplete.
      this.floorRevision = Math.max(this.floorRevision, evicted.revision);
      this.ring[this.head] = change;
      this.head = (this.head + 1) % this.capacity;
    } else {
      this.ring[(this.head + this.size) % this.capacity] = change;
      this.size++;
    }
  }

  /** Every held change with revision > afterRevision, oldest first. */
  since(afterRevision: number): MeshChange[] {
    if (afterRevision < this.floorRevision) {
      throw new MeshError(
        'COMPACTED',
        `changes after revision ${afterRevision} are no longer held (oldest is after ${this.floorRevision}); take a snapshot`,
      );
    }
    // Binary search for the first change above afterRevision; revisions never decrease.
    let low = 0;
    let high = this.size;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.at(mid).revision <= afterRevision) low = mid + 1;
      else high = mid;
    }
    const out: MeshChange[] = [];
    for (let i = low; i < this.size; i++) out.push(this.at(i));
    return out;
  }

  private at(index: number): MeshChange {
    return this.ring[(this.head + index) % this.capacity]!;
  }
}
