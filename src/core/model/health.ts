export const HEALTH_STATES = ['healthy', 'degraded', 'unhealthy', 'unknown'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];
