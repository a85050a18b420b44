import { BALANCER_KINDS, createBalancer } from '../../src/core/index.ts';
import { seededRandom } from '../helpers/fake-clock.ts';
import { balancerContract } from './balancer.contract.ts';

for (const kind of BALANCER_KINDS) {
  balancerContract(kind, (clock) => createBalancer(kind, { clock, random: seededRandom(7) }));
}

// The system random source must work too (no seed), for the kinds that use randomness.
balancerContract('random', (clock) => createBalancer('random', { clock }));
