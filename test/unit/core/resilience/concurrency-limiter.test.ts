import { describe, expect, it } from 'vitest';
import { createConcurrencyLimiter } from '../../../../src/core/index.ts';

describe('concurrency limiter', () => {
  it('starts up to maxInFlight, queues up to maxPending, rejects the overflow', () => {
    const limiter = createConcurrencyLimiter({ maxInFlight: 2, maxPending: 1 });
    expect([limiter.tryAcquire(), limiter.tryAcquire(), limiter.tryAcquire(), limiter.tryAcquire()]).toEqual([
      'start',
      'start',
      'queue',
      'reject',
    ]);
    expect(limiter.inFlight).toBe(2);
    expect(limiter.pending).toBe(1);
  });

  it('hands a released slot to the oldest queued request', () => {
    const limiter = createConcurrencyLimiter({ maxInFlight: 1, maxPending: 2 });
    expect(limiter.tryAcquire()).toBe('start');
    expect(limiter.tryAcquire()).toBe('queue');
    expect(limiter.tryAcquire()).toBe('queue');
    expect(limiter.release()).toBe(true);
    expect([limiter.inFlight, limiter.pending]).toEqual([1, 1]);
    expect(limiter.release()).toBe(true);
    expect(limiter.release()).toBe(false);
    expect([limiter.inFlight, limiter.pending]).toEqual([0, 0]);
    expect(limiter.tryAcquire()).toBe('start');
  });

  it('a queued request that gives up frees its place', () => {
    const limiter = createConcurrencyLimiter({ maxInFlight: 1, maxPending: 1 });
    limiter.tryAcquire();
    expect(limiter.tryAcquire()).toBe('queue');
    expect(limiter.tryAcquire()).toBe('reject');
    limiter.cancelPending();
    expect(limiter.tryAcquire()).toBe('queue');
  });

  it('with maxPending 0 rejects at once when full', () => {
    const limiter = createConcurrencyLimiter({ maxInFlight: 1, maxPending: 0 });
    expect(limiter.tryAcquire()).toBe('start');
    expect(limiter.tryAcquire()).toBe('reject');
  });

  it('applies new limits: lowered limits drain, raised ones admit at once', () => {
    const limiter = createConcurrencyLimiter({ maxInFlight: 3, maxPending: 3 });
    limiter.tryAcquire();
    limiter.tryAcquire();
    limiter.tryAcquire();
    limiter.tryAcquire();
    limiter.setLimits({ maxInFlight: 1, maxPending: 3 });
    expect(limiter.release()).toBe(false);
    expect(limiter.release()).toBe(false);
    expect(limiter.release()).toBe(true);
    expect([limiter.inFlight, limiter.pending]).toEqual([1, 0]);
    limiter.setLimits({ maxInFlight: 3, maxPending: 0 });
    expect(limiter.tryAcquire()).toBe('start');
    expect(limiter.tryAcquire()).toBe('start');
    expect(limiter.tryAcquire()).toBe('reject');
  });

  it('has Envoy’s defaults (1024 / 1024) and never counts below zero', () => {
    const limiter = createConcurrencyLimiter();
    for (let i = 0; i < 1024; i++) expect(limiter.tryAcquire()).toBe('start');
    for (let i = 0; i < 1024; i++) expect(limiter.tryAcquire()).toBe('queue');
    expect(limiter.tryAcquire()).toBe('reject');
    const fresh = createConcurrencyLimiter();
    expect(fresh.release()).toBe(false);
    fresh.cancelPending();
    expect([fresh.inFlight, fresh.pending]).toEqual([0, 0]);
  });
});
