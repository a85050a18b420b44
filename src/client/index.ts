export * from './backoff.ts';
export * from './control-client.ts';
export * from './mesh-view.ts';
export * from './registration.ts';
export * from './sse.ts';
export * from './types.ts';
export * from './watch.ts';
