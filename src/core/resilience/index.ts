export * from './backoff.ts';
export * from './circuit-breaker.ts';
export * from './concurrency-limiter.ts';
export * from './deadline.ts';
export * from './outlier-detector.ts';
export * from './retry-budget.ts';
export * from './retry-policy.ts';
export { RollingWindow } from './rolling-window.ts';
export * from './token-bucket.ts';
