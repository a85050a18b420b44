export * from './balancers/index.ts';
export * from './clock.ts';
export * from './duration.ts';
export * from './endpoints/index.ts';
export * from './errors.ts';
export * from './model/index.ts';
export * from './resilience/index.ts';
export * from './sampling.ts';
