import type { Clock } from '../clock.ts';
import type { Balancer, BalancerKind, BalancerOptions, Endpoint } from './types.ts';

/** Healthy endpoints with weight > 0, or the degraded ones when no healthy one is left. */
export function selectEligible<E extends Endpoint>(endpoints: readonly E[]): E[] {
  const healthy: E[] = [];
  const degraded: E[] = [];
  for (const endpoint of endpoints) {
    if (!(endpoint.weight > 0)) continue;
    if (endpoint.health === 'healthy') healthy.push(endpoint);
    else if (endpoint.health === 'degraded') degraded.push(endpoint);
  }
  return healthy.length > 0 ? healthy : degraded;
}

/**
 * Whether the endpoint is not ejected. Reads the clock only for endpoints that have been ejected, and
 * clears a deadline that has passed so later calls are a single field read.
 */
export function isAvailable(endpoint: Endpoint, clock: Clock): boolean {
  const until = endpoint.ejectedUntil;
  if (until === 0) return true;
  if (until > clock.now()) return false;
  endpoint.ejectedUntil = 0;
  return true;
}

/**
 * The slow path of every pick, taken when the first candidate is ejected or excluded: scans the list
 * cyclically from `start` and returns an index by the precedence documented on `Balancer` (skip ejected
 * unless all are; avoid `exclude` unless it is the only choice). -1 only for an empty list.
 */
export function scanIndex<E extends Endpoint>(
  list: readonly E[],
  start: number,
  exclude: E | undefined,
  clock: Clock,
): number {
  const n = list.length;
  if (n === 0) return -1;
  let excludedAt = -1;
  let excludedAvailable = false;
  let index = start % n;
  for (let k = 0; k < n; k++) {
    const endpoint = list[index];
    if (endpoint === exclude) {
      excludedAt = index;
      excludedAvailable = isAvailable(endpoint, clock);
    } else if (isAvailable(endpoint, clock)) {
      return index;
    }
    index = index + 1 === n ? 0 : index + 1;
  }
  if (excludedAvailable) return excludedAt;
  // Panic: every eligible endpoint is ejected, so ejection is ignored.
  index = start % n;
  return list[index] === exclude && n > 1 ? (index + 1) % n : index;
}

/**
 * A uniformly random index among the acceptable endpoints (not ejected, not excluded), for when a random
 * draw hit an unacceptable one; O(n), the slow path only. Falls back to `scanIndex` when none is.
 */
export function randomAcceptableIndex<E extends Endpoint>(
  list: readonly E[],
  exclude: E | undefined,
  clock: Clock,
  random: () => number,
): number {
  let acceptable = 0;
  for (const endpoint of list) if (endpoint !== exclude && isAvailable(endpoint, clock)) acceptable++;
  if (acceptable === 0) return scanIndex(list, randomIndex(random, list.length), exclude, clock);
  let target = randomIndex(random, acceptable);
  for (let i = 0; i < list.length; i++) {
    const endpoint = list[i];
    if (endpoint !== exclude && endpoint.ejectedUntil === 0 && target-- === 0) return i;
  }
  return scanIndex(list, 0, exclude, clock);
}

/** An index in [0, n) from the injected random source. */
export function randomIndex(random: () => number, n: number): number {
  const index = Math.floor(random() * n);
  return index < n ? index : n - 1;
}

/** Shared state and bookkeeping; subclasses precompute in `rebuild()` and implement `pick()`. */
export abstract class BaseBalancer<E extends Endpoint> implements Balancer<E> {
  abstract readonly kind: BalancerKind;
  eligible: readonly E[] = [];
  protected readonly clock: Clock;
  protected readonly random: () => number;

  constructor(options: BalancerOptions) {
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
  }

  setEndpoints(endpoints: readonly E[]): void {
    this.eligible = selectEligible(endpoints);
    this.rebuild();
  }

  protected abstract rebuild(): void;

  abstract pick(hashKey?: string, exclude?: E): E | undefined;

  /** Whether `endpoint` may be returned without falling back: not excluded and not ejected. */
  protected acceptable(endpoint: E, exclude: E | undefined): boolean {
    return endpoint !== exclude && isAvailable(endpoint, this.clock);
  }

  onRequestStart(endpoint: E): void {
    endpoint.inFlight++;
  }

  onRequestEnd(endpoint: E, _latencyMs: number, _success: boolean): void {
    if (endpoint.inFlight > 0) endpoint.inFlight--;
  }
}
