import { MeshError } from '../core/index.ts';
import type { KeyValue } from './store.ts';

/** Argument checks both stores share, so they reject the same inputs with the same errors. */

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new MeshError('BAD_REQUEST', 'A store key must be a non-empty string.');
  }
}

export function checkValue(value: string): void {
  if (typeof value !== 'string') throw new MeshError('BAD_REQUEST', 'A store value must be a string.');
}

export function checkRevision(name: string, revision: number | undefined): void {
  if (revision === undefined) return;
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new MeshError('BAD_REQUEST', `${name} must be a non-negative integer, got ${String(revision)}.`);
  }
}

/** Leases have whole-second TTLs (as in etcd); fractions round up. */
export function leaseTtl(ttlSeconds: number): number {
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new MeshError(
      'BAD_REQUEST',
      `A lease TTL must be a positive number of seconds, got ${String(ttlSeconds)}.`,
    );
  }
  return Math.ceil(ttlSeconds);
}

export function conflict(key: string, expected: number, actual: number | undefined): MeshError {
  const found = actual === undefined ? 'the key does not exist' : `its modRevision is ${actual}`;
  const wanted = expected === 0 ? 'it not to exist' : `modRevision ${expected}`;
  return new MeshError('CONFLICT', `Write to ${key} expected ${wanted} but ${found}; read again and retry.`, {
    details: [{ path: key, message: 'modRevision mismatch', expected, actual: actual ?? 0 }],
  });
}

/** Throws CONFLICT unless the key's current state satisfies the compare-on-revision condition. */
export function checkExpected(
  key: string,
  current: KeyValue | undefined,
  expected: number | undefined,
): void {
  if (expected === undefined) return;
  if ((current?.modRevision ?? 0) !== expected) throw conflict(key, expected, current?.modRevision);
}

export function leaseNotFound(lease: string): MeshError {
  return new MeshError('LEASE_NOT_FOUND', `Lease ${lease} expired or was revoked; grant a new one.`);
}

export function storeClosed(): MeshError {
  return new MeshError('STORE_CLOSED', 'The store was closed.');
}
