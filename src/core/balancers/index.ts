export { createEwmaBalancer } from './ewma.ts';
export { createBalancer } from './factory.ts';
export { hashString } from './hash.ts';
export { createIpHashBalancer } from './ip-hash.ts';
export { createLeastConnectionsBalancer } from './least-connections.ts';
export { createRandomBalancer } from './random.ts';
export { createRoundRobinBalancer } from './round-robin.ts';
export * from './types.ts';
export { createWeightedBalancer } from './weighted.ts';
