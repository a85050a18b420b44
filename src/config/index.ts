export * from './check.ts';
export * from './load.ts';
export * from './schema.ts';
