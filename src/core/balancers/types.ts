import type { Clock } from '../clock.ts';
import type { HealthState } from '../model/index.ts';

/**
 * One upstream instance as the data plane sees it. The proxy keeps one object per instance for as long
 * as the instance exists and updates it in place; balancers, the outlier detector and circuit breakers
 * all read and write the same object, so there is no lookup and no allocation on the request path.
 */
export interface Endpoint {
  readonly id: string;
  address: string;
  port: number;
  /** 0..10000, default 100. Weight 0 drains the endpoint: no balancer picks it. */
  weight: number;
  /** Changing `health` or `weight` takes effect at the next `Balancer.setEndpoints()`. */
  health: HealthState;
  zone?: string;

  /** Requests started and not yet ended (maintained by `onRequestStart` / `onRequestEnd`). */
  inFlight: number;
  /** Peak-EWMA latency estimate in ms as of `ewmaStamp`; negative while the endpoint has no estimate. */
  ewmaMs: number;
  /** Clock time (epoch ms) of the last change to `ewmaMs`. */
  ewmaStamp: number;
  /**
   * Epoch ms until which the endpoint is ejected (outlier detection, an open circuit breaker); 0 when
   * not ejected. Balancers skip ejected endpoints without a rebuild and clear the field once it passes.
   */
  ejectedUntil: number;
}

export interface EndpointSpec {
  id: string;
  address: string;
  port: number;
  weight?: number;
  health?: HealthState;
  zone?: string;
}

/** Builds an endpoint with zeroed load statistics; every endpoint gets the same shape. */
export function createEndpoint(spec: EndpointSpec): Endpoint {
  return {
    id: spec.id,
    address: spec.address,
    port: spec.port,
    weight: spec.weight ?? 100,
    health: spec.health ?? 'healthy',
    zone: spec.zone,
    inFlight: 0,
    ewmaMs: -1,
    ewmaStamp: 0,
    ejectedUntil: 0,
  };
}

/**
 * Ejects an endpoint until `untilMs` (epoch ms). Several sources may eject the same endpoint (outlier
 * detection, a circuit breaker); the latest deadline wins, so one source never shortens another's.
 */
export function ejectUntil(endpoint: Endpoint, untilMs: number): void {
  if (untilMs > endpoint.ejectedUntil) endpoint.ejectedUntil = untilMs;
}

/** Whether the endpoint is ejected at clock time `now`. */
export function isEjected(endpoint: Endpoint, now: number): boolean {
  return endpoint.ejectedUntil > now;
}

export const BALANCER_KINDS = [
  'ewma',
  'round-robin',
  'least-connections',
  'weighted',
  'random',
  'ip-hash',
] as const;
export type BalancerKind = (typeof BALANCER_KINDS)[number];
export const DEFAULT_BALANCER: BalancerKind = 'ewma';

/**
 * Chooses an endpoint for each request.
 *
 * Eligibility is decided at `setEndpoints()`: the healthy endpoints with weight > 0, or the degraded ones
 * when no healthy one is left; `unknown` and `unhealthy` endpoints are never picked.
 *
 * `pick()` then applies, in order of precedence:
 * 1. skip ejected endpoints (`ejectedUntil` in the future) — unless every eligible endpoint is ejected:
 *    then it picks among all of them as if none were (Envoy's panic mode: better a suspect endpoint
 *    than a guaranteed failure);
 * 2. avoid `exclude` (the endpoint a retry wants to move away from) — unless it is the only choice left
 *    after rule 1.
 * It returns `undefined` only when no endpoint is eligible.
 */
export interface Balancer<E extends Endpoint = Endpoint> {
  readonly kind: BalancerKind;
  /** The eligible endpoints from the last `setEndpoints()`, in the order given. Do not mutate. */
  readonly eligible: readonly E[];
  /** Replaces the endpoint set (discovery changed, or a health or weight changed): all precomputation. */
  setEndpoints(endpoints: readonly E[]): void;
  /** `hashKey` is used by `ip-hash` (client address or a header value) and ignored by the others. */
  pick(hashKey?: string, exclude?: E): E | undefined;
  onRequestStart(endpoint: E): void;
  /** Latency of the attempt in ms; `success` is false for connect errors, resets and 5xx. */
  onRequestEnd(endpoint: E, latencyMs: number, success: boolean): void;
}

export interface BalancerOptions {
  clock: Clock;
  /** Uniform in [0, 1); `Math.random` by default. Inject a seeded one for deterministic tests. */
  random?: () => number;
  /** ewma: decay time constant of the latency estimate, ms (default 10 000). */
  decayMs?: number;
  /** ewma: estimate for new endpoints when no other endpoint has one yet, ms (default 30). */
  defaultRttMs?: number;
  /** ip-hash: virtual nodes on the ring for the heaviest endpoint (default 160). */
  virtualNodes?: number;
  /** weighted: longest precomputed schedule, in picks (default 65 536); longer ones are scaled down. */
  maxScheduleLength?: number;
}
