import { BaseBalancer, randomIndex, scanIndex } from './base.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

/** Each eligible endpoint in turn, starting at a random one so proxies restarted together spread out. */
class RoundRobinBalancer<E extends Endpoint> extends BaseBalancer<E> {
  readonly kind = 'round-robin';
  private cursor = 0;

  protected rebuild(): void {
    const n = this.eligible.length;
    this.cursor = n > 0 ? randomIndex(this.random, n) : 0;
  }

  pick(_hashKey?: string, exclude?: E): E | undefined {
    const list = this.eligible;
    const n = list.length;
    if (n === 0) return undefined;
    let index = this.cursor;
    const endpoint = list[index];
    if (!this.acceptable(endpoint, exclude)) index = scanIndex(list, index + 1, exclude, this.clock);
    this.cursor = index + 1 === n ? 0 : index + 1;
    return list[index];
  }
}

export function createRoundRobinBalancer<E extends Endpoint = Endpoint>(
  options: BalancerOptions,
): Balancer<E> {
  return new RoundRobinBalancer<E>(options);
}
