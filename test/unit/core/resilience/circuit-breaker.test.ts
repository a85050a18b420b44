import { describe, expect, it } from 'vitest';
import {
  type BreakerState,
  type CircuitBreakerOptions,
  createCircuitBreaker,
} from '../../../../src/core/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = createFakeClock();
  const transitions: string[] = [];
  const breaker = createCircuitBreaker({
    clock,
    onStateChange: (state: BreakerState, previous: BreakerState) => transitions.push(`${previous}->${state}`),
    ...options,
  });
  return { clock, breaker, transitions };
}

function fail(breaker: ReturnType<typeof createCircuitBreaker>, times: number): void {
  for (let i = 0; i < times; i++) {
    expect(breaker.allowRequest()).toBe(true);
    breaker.onFailure();
  }
}

describe('circuit breaker', () => {
  it('starts closed and stays closed below the failure threshold', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    fail(breaker, 4);
    breaker.onSuccess();
    fail(breaker, 4);
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(4);
  });

  it('opens after 5 consecutive failures and rejects for the recovery time (60 s)', () => {
    const { breaker, clock, transitions } = setup();
    fail(breaker, 5);
    expect(breaker.state).toBe('open');
    expect(breaker.openUntil).toBe(clock.now() + 60_000);
    expect(breaker.allowRequest()).toBe(false);
    clock.advance(59_999);
    expect(breaker.allowRequest()).toBe(false);
    expect(transitions).toEqual(['closed->open']);
  });

  it('ignores outcomes reported while open (requests started before it opened)', () => {
    const { breaker, clock } = setup();
    fail(breaker, 5);
    breaker.onSuccess();
    breaker.onSuccess();
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.openUntil).toBe(clock.now() + 60_000);
  });

  it('goes half-open after the recovery time and admits a limited number of probes', () => {
    const { breaker, clock, transitions } = setup({ halfOpenProbes: 2 });
    fail(breaker, 5);
    clock.advance(60_000);
    expect(breaker.state).toBe('half-open');
    expect(breaker.openUntil).toBe(0);
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(false);
    expect(transitions).toEqual(['closed->open', 'open->half-open']);
  });

  it('closes when all the probes succeed', () => {
    const { breaker, clock, transitions } = setup({ halfOpenProbes: 3 });
    fail(breaker, 5);
    clock.advance(60_000);
    for (let i = 0; i < 3; i++) expect(breaker.allowRequest()).toBe(true);
    breaker.onSuccess();
    breaker.onSuccess();
    expect(breaker.state).toBe('half-open');
    breaker.onSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(0);
    expect(breaker.allowRequest()).toBe(true);
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('reopens on any probe failure, for another recovery time', () => {
    const { breaker, clock, transitions } = setup({ recoveryTimeMs: 10_000 });
    fail(breaker, 5);
    clock.advance(10_000);
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(true);
    breaker.onSuccess();
    breaker.onFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.openUntil).toBe(clock.now() + 10_000);
    expect(breaker.allowRequest()).toBe(false);
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->open']);
  });

  it('a cancelled probe frees its slot', () => {
    const { breaker, clock } = setup({ halfOpenProbes: 1 });
    fail(breaker, 5);
    clock.advance(60_000);
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.allowRequest()).toBe(false);
    breaker.onCancel();
    expect(breaker.allowRequest()).toBe(true);
    breaker.onSuccess();
    expect(breaker.state).toBe('closed');
  });

  it('opens on the failure ratio over the window, once there are enough requests', () => {
    const { breaker, clock } = setup({ consecutiveFailures: 0 });
    // 9 failures in 18 requests: ratio 0.5 but below the 20-request minimum.
    for (let i = 0; i < 9; i++) {
      breaker.onSuccess();
      breaker.onFailure();
    }
    expect(breaker.state).toBe('closed');
    clock.advance(1000);
    breaker.onSuccess();
    breaker.onFailure();
    expect(breaker.state).toBe('open');
  });

  it('does not open on the ratio when failures are below it', () => {
    const { breaker } = setup({ consecutiveFailures: 0 });
    for (let i = 0; i < 100; i++) {
      breaker.onSuccess();
      breaker.onSuccess();
      breaker.onFailure();
    }
    expect(breaker.state).toBe('closed');
  });

  it('forgets failures older than the window', () => {
    const { breaker, clock } = setup({ consecutiveFailures: 0, windowMs: 10_000 });
    for (let i = 0; i < 15; i++) breaker.onFailure();
    clock.advance(11_000);
    for (let i = 0; i < 10; i++) breaker.onSuccess();
    for (let i = 0; i < 9; i++) breaker.onFailure();
    // 9 of 19 in the window: below the minimum and below the ratio.
    expect(breaker.state).toBe('closed');
    breaker.onFailure();
    breaker.onFailure();
    // 11 of 21.
    expect(breaker.state).toBe('open');
  });

  it('can be reset to closed by an operator', () => {
    const { breaker } = setup();
    fail(breaker, 5);
    breaker.reset();
    expect(breaker.state).toBe('closed');
    expect(breaker.allowRequest()).toBe(true);
  });
});
