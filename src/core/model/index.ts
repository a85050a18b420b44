export * from './check.ts';
export * from './health.ts';
export * from './instance.ts';
export * from './policy.ts';
export * from './policy-defaults.ts';
export * from './service.ts';
export * from './snapshot.ts';
