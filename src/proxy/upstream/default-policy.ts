import { defaultPolicy, type ServicePolicy } from '../../core/index.ts';

/**
 * The policy a cluster uses when its source has none for the service: the configuration's defaults
 * (Envoy's and linkerd's: ewma balancing, 5 consecutive failures open a breaker for 60 s, one retry on
 * connect failures, resets and 502/503/504 within a 20% + 10/s budget, a 15 s request timeout).
 */
export function defaultServicePolicy(service: string): ServicePolicy {
  return defaultPolicy(service);
}
