import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../core/index.ts';

export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  /** Clock time (ms) after which the lease is expired; meaningful once the table is started. */
  expiresAt: number;
  readonly keys: Set<string>;
  timer?: TimerHandle;
}

/**
 * Leases, the keys attached to each, and their expiry timers. Timers run only between `start()` and
 * `stop()`: while the log is replayed nothing expires, and `start()` gives every lease a full TTL
 * from that moment (so leases survive a restart with their TTL restarted).
 */
export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private running = false;

  constructor(
    private readonly clock: Clock,
    private readonly onExpire: (id: string) => void,
  ) {}

  get size(): number {
    return this.leases.size;
  }

  get(id: string): Lease | undefined {
    return this.leases.get(id);
  }

  all(): Lease[] {
    return [...this.leases.values()];
  }

  /** A fresh id: a random positive 63-bit integer in decimal, like etcd's. */
  newId(): string {
    for (;;) {
      const id = (randomBytes(8).readBigUInt64BE() >> 1n).toString();
      if (id !== '0' && !this.leases.has(id)) return id;
    }
  }

  grant(id: string, ttlSeconds: number): void {
    const lease: Lease = { id, ttlSeconds, expiresAt: 0, keys: new Set() };
    this.leases.set(id, lease);
    if (this.running) this.refresh(lease);
  }

  /** Forgets the lease; the caller deletes its keys. */
  remove(id: string): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    if (lease.timer) this.clock.clearTimeout(lease.timer);
    this.leases.delete(id);
  }

  attach(id: string, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: string, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  isExpired(lease: Lease): boolean {
    return this.running && this.clock.now() >= lease.expiresAt;
  }

  /** Restarts the lease's TTL from now. */
  refresh(lease: Lease): void {
    lease.expiresAt = this.clock.now() + lease.ttlSeconds * 1000;
    this.arm(lease);
  }

  start(): void {
    this.running = true;
    for (const lease of this.leases.values()) this.refresh(lease);
  }

  stop(): void {
    this.running = false;
    for (const lease of this.leases.values()) {
      if (lease.timer) this.clock.clearTimeout(lease.timer);
      lease.timer = undefined;
    }
  }

  /**
   * One timer per lease, set for its expiry. A keep-alive only moves `expiresAt`; when the timer
   * fires early it re-arms for the rest, so keep-alives never touch timers.
   */
  private arm(lease: Lease): void {
    if (lease.timer || !this.running) return;
    const timer = this.clock.setTimeout(
      () => {
        lease.timer = undefined;
        if (!this.running || this.leases.get(lease.id) !== lease) return;
        if (this.clock.now() >= lease.expiresAt) this.onExpire(lease.id);
        else this.arm(lease);
      },
      Math.max(0, lease.expiresAt - this.clock.now()),
    );
    timer.unref?.();
    lease.timer = timer;
  }
}
