import { BaseBalancer, randomAcceptableIndex, randomIndex } from './base.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

/** A uniformly random eligible endpoint. */
class RandomBalancer<E extends Endpoint> extends BaseBalancer<E> {
  readonly kind = 'random';

  protected rebuild(): void {}

  pick(_hashKey?: string, exclude?: E): E | undefined {
    const list = this.eligible;
    const n = list.length;
    if (n === 0) return undefined;
    const index = randomIndex(this.random, n);
    if (this.acceptable(list[index], exclude)) return list[index];
    return list[randomAcceptableIndex(list, exclude, this.clock, this.random)];
  }
}

export function createRandomBalancer<E extends Endpoint = Endpoint>(options: BalancerOptions): Balancer<E> {
  return new RandomBalancer<E>(options);
}
