import { TwoChoicesBalancer } from './two-choices.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

/** Power of two choices over in-flight requests, scaled by weight (Envoy's least_request). */
class LeastConnectionsBalancer<E extends Endpoint> extends TwoChoicesBalancer<E> {
  readonly kind = 'least-connections';
  protected readonly usesClock = false;

  protected cost(endpoint: E): number {
    return (endpoint.inFlight + 1) / endpoint.weight;
  }
}

export function createLeastConnectionsBalancer<E extends Endpoint = Endpoint>(
  options: BalancerOptions,
): Balancer<E> {
  return new LeastConnectionsBalancer<E>(options);
}
