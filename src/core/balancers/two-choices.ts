import { BaseBalancer, randomAcceptableIndex, randomIndex } from './base.ts';
import type { Endpoint } from './types.ts';

/**
 * Power of two choices: draw two distinct eligible endpoints at random and take the cheaper. Nearly as
 * good as scanning for the cheapest, in O(1), and without herding every proxy onto the same endpoint.
 */
export abstract class TwoChoicesBalancer<E extends Endpoint> extends BaseBalancer<E> {
  /** Lower is better. `now` is the clock time when `usesClock`, else 0. */
  protected abstract cost(endpoint: E, now: number): number;
  protected abstract readonly usesClock: boolean;

  protected rebuild(): void {}

  pick(_hashKey?: string, exclude?: E): E | undefined {
    const list = this.eligible;
    const n = list.length;
    if (n === 0) return undefined;
    if (n === 1) return list[0];
    const i = randomIndex(this.random, n);
    let j = randomIndex(this.random, n - 1);
    if (j >= i) j++;
    const a = list[i];
    const b = list[j];
    const aOk = this.acceptable(a, exclude);
    const bOk = this.acceptable(b, exclude);
    if (aOk && bOk) {
      const now = this.usesClock ? this.clock.now() : 0;
      return this.cost(b, now) < this.cost(a, now) ? b : a;
    }
    if (aOk) return a;
    if (bOk) return b;
    return list[randomAcceptableIndex(list, exclude, this.clock, this.random)];
  }
}
