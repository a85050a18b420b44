import type { Endpoint } from '../balancers/index.ts';
import { ejectUntil } from '../balancers/index.ts';
import type { Clock } from '../clock.ts';

export interface OutlierDetectorOptions {
  clock: Clock;
  /** Consecutive errors (5xx, connect failures, resets: the caller decides) that eject (default 5). */
  consecutiveErrors?: number;
  /** Ejection time is this × the number of times the endpoint was ejected (default 30 000 ms)… */
  baseEjectionTimeMs?: number;
  /** …capped at this (default 300 000 ms, never below the base time). */
  maxEjectionTimeMs?: number;
  /** At most this percentage of the cluster is ejected at once (default 50; 0 disables ejection). */
  maxEjectionPercent?: number;
  onEject?: (endpoint: Endpoint, durationMs: number) => void;
  /** Called lazily, when the detector next looks at the endpoint (a record, `sweep()`, a count). */
  onReturn?: (endpoint: Endpoint) => void;
}

/**
 * Passive health for one cluster, with Envoy's semantics: `consecutiveErrors` errors in a row eject an
 * endpoint for baseEjectionTime × (times ejected), capped at maxEjectionTime, and never more than
 * maxEjectionPercent of the cluster at once (but at least one endpoint). For each baseEjectionTime an
 * endpoint stays in after returning, its ejection count drops by one.
 *
 * Ejection sets `endpoint.ejectedUntil`, which every balancer honours without a rebuild, and an endpoint
 * returns by itself when the time is up: no timers. Outcomes of requests that were in flight when the
 * endpoint was ejected are ignored.
 */
export interface OutlierDetector<E extends Endpoint = Endpoint> {
  /** The cluster's endpoints (all of them, whatever their health). State is kept per endpoint object. */
  setEndpoints(endpoints: readonly E[]): void;
  onSuccess(endpoint: E): void;
  onFailure(endpoint: E): void;
  isEjected(endpoint: E): boolean;
  /** Ends the endpoint's ejection now (an active health check found it healthy again). */
  uneject(endpoint: E): void;
  /** Epoch ms when this detector's ejection of `endpoint` ends; 0 when it has not ejected it. */
  ejectedUntil(endpoint: E): number;
  /** How many endpoints this detector has ejected right now. */
  ejectedCount(): number;
  /** Notices returns (firing `onReturn`); call it from a periodic metrics tick if you need them prompt. */
  sweep(): void;
}

interface HostState<E> {
  endpoint: E;
  errors: number;
  ejections: number;
  /** Epoch ms when this detector's ejection ends; 0 when not ejected. */
  until: number;
  /** Epoch ms of the last return; 0 if never ejected. */
  returnedAt: number;
}

class Detector<E extends Endpoint> implements OutlierDetector<E> {
  private hosts = new Map<E, HostState<E>>();
  private readonly clock: Clock;
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxPercent: number;
  private readonly onEject: OutlierDetectorOptions['onEject'];
  private readonly onReturn: OutlierDetectorOptions['onReturn'];

  constructor(options: OutlierDetectorOptions, previous?: OutlierDetector<E>) {
    this.clock = options.clock;
    // New settings do not forget what the old ones saw: errors in a row, ejections and their counts.
    if (previous instanceof Detector) {
      for (const [endpoint, host] of previous.hosts) this.hosts.set(endpoint, { ...host });
    }
    this.threshold = Math.max(1, options.consecutiveErrors ?? 5);
    this.baseMs = options.baseEjectionTimeMs ?? 30_000;
    this.maxMs = Math.max(this.baseMs, options.maxEjectionTimeMs ?? 300_000);
    this.maxPercent = options.maxEjectionPercent ?? 50;
    this.onEject = options.onEject;
    this.onReturn = options.onReturn;
  }

  setEndpoints(endpoints: readonly E[]): void {
    const next = new Map<E, HostState<E>>();
    for (const endpoint of endpoints) {
      next.set(
        endpoint,
        this.hosts.get(endpoint) ?? { endpoint, errors: 0, ejections: 0, until: 0, returnedAt: 0 },
      );
    }
    this.hosts = next;
  }

  onSuccess(endpoint: E): void {
    const host = this.hosts.get(endpoint);
    if (host !== undefined) host.errors = 0;
  }

  onFailure(endpoint: E): void {
    const host = this.hosts.get(endpoint);
    if (host === undefined) return;
    const now = this.clock.now();
    if (this.ejected(host, now)) return;
    host.errors++;
    if (host.errors >= this.threshold) this.tryEject(host, now);
  }

  isEjected(endpoint: E): boolean {
    const host = this.hosts.get(endpoint);
    return host !== undefined && this.ejected(host, this.clock.now());
  }

  uneject(endpoint: E): void {
    const host = this.hosts.get(endpoint);
    if (host === undefined || !this.ejected(host, this.clock.now())) return;
    host.until = 0;
    host.returnedAt = this.clock.now();
    host.errors = 0;
    this.onReturn?.(endpoint);
  }

  ejectedUntil(endpoint: E): number {
    const host = this.hosts.get(endpoint);
    return host !== undefined && this.ejected(host, this.clock.now()) ? host.until : 0;
  }

  ejectedCount(): number {
    const now = this.clock.now();
    let count = 0;
    for (const host of this.hosts.values()) if (this.ejected(host, now)) count++;
    return count;
  }

  sweep(): void {
    this.ejectedCount();
  }

  /** Whether `host` is ejected at `now`; notices a return. */
  private ejected(host: HostState<E>, now: number): boolean {
    if (host.until === 0) return false;
    if (now < host.until) return true;
    host.returnedAt = host.until;
    host.until = 0;
    this.onReturn?.(host.endpoint);
    return false;
  }

  private tryEject(host: HostState<E>, now: number): void {
    if (this.maxPercent <= 0) return;
    const allowed = Math.max(1, Math.floor((this.hosts.size * this.maxPercent) / 100));
    // At the cap the error count stays high, so the next error tries again once room is made.
    if (this.ejectedCount() >= allowed) return;
    if (host.ejections > 0 && host.returnedAt > 0) {
      host.ejections = Math.max(0, host.ejections - Math.floor((now - host.returnedAt) / this.baseMs));
    }
    host.ejections++;
    const duration = Math.min(this.baseMs * host.ejections, this.maxMs);
    host.errors = 0;
    host.until = now + duration;
    ejectUntil(host.endpoint, host.until);
    this.onEject?.(host.endpoint, duration);
  }
}

/** A detector; with `previous` (the same cluster's, under older settings), it carries on its state. */
export function createOutlierDetector<E extends Endpoint = Endpoint>(
  options: OutlierDetectorOptions,
  previous?: OutlierDetector<E>,
): OutlierDetector<E> {
  return new Detector<E>(options, previous);
}
