export * from './endpoint-set.ts';
