import { MeshError } from '../errors.ts';
import { createEwmaBalancer } from './ewma.ts';
import { createIpHashBalancer } from './ip-hash.ts';
import { createLeastConnectionsBalancer } from './least-connections.ts';
import { createRandomBalancer } from './random.ts';
import { createRoundRobinBalancer } from './round-robin.ts';
import {
  BALANCER_KINDS,
  type Balancer,
  type BalancerKind,
  type BalancerOptions,
  type Endpoint,
} from './types.ts';
import { createWeightedBalancer } from './weighted.ts';

const FACTORIES = {
  ewma: createEwmaBalancer,
  'round-robin': createRoundRobinBalancer,
  'least-connections': createLeastConnectionsBalancer,
  weighted: createWeightedBalancer,
  random: createRandomBalancer,
  'ip-hash': createIpHashBalancer,
} as const satisfies Record<BalancerKind, (options: BalancerOptions) => Balancer>;

export function createBalancer<E extends Endpoint = Endpoint>(
  kind: BalancerKind,
  options: BalancerOptions,
): Balancer<E> {
  const factory = Object.hasOwn(FACTORIES, kind) ? FACTORIES[kind] : undefined;
  if (factory === undefined) {
    throw new MeshError(
      'INVALID_CONFIG',
      `unknown balancer "${String(kind)}": expected one of ${BALANCER_KINDS.join(', ')}`,
    );
  }
  return factory<E>(options);
}
