import { describe, expect, it } from 'vitest';
import {
  BALANCER_KINDS,
  type BalancerKind,
  createBalancer,
  DEFAULT_BALANCER,
} from '../../../../src/core/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('createBalancer', () => {
  it('builds every kind, and ewma is the default', () => {
    expect(DEFAULT_BALANCER).toBe('ewma');
    expect([...BALANCER_KINDS].sort()).toEqual([
      'ewma',
      'ip-hash',
      'least-connections',
      'random',
      'round-robin',
      'weighted',
    ]);
    for (const kind of BALANCER_KINDS)
      expect(createBalancer(kind, { clock: createFakeClock() }).kind).toBe(kind);
  });

  it('rejects an unknown kind with INVALID_CONFIG', () => {
    for (const kind of ['fastest', 'toString', '__proto__']) {
      expect(() => createBalancer(kind as BalancerKind, { clock: createFakeClock() })).toThrow(
        expect.objectContaining({ code: 'INVALID_CONFIG' }),
      );
    }
  });
});
