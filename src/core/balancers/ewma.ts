import { TwoChoicesBalancer } from './two-choices.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

const DEFAULT_DECAY_MS = 10_000;
const DEFAULT_RTT_MS = 30;

/**
 * linkerd's balancer: power of two choices over peak-EWMA latency × (in-flight + 1), divided by weight.
 *
 * The estimate jumps up at once to any slower sample (peak) and otherwise moves toward new samples with
 * a weight of 1 - e^(-elapsed / decay). While an endpoint gets no traffic its estimate decays toward 0,
 * so a once-slow endpoint is probed again after a while instead of being shunned forever. A new endpoint
 * starts at the mean estimate of the others (neutral), or `defaultRttMs` when none has one.
 */
class EwmaBalancer<E extends Endpoint> extends TwoChoicesBalancer<E> {
  readonly kind = 'ewma';
  protected readonly usesClock = true;
  private readonly decayMs: number;
  private readonly defaultRttMs: number;

  constructor(options: BalancerOptions) {
    super(options);
    this.decayMs = options.decayMs ?? DEFAULT_DECAY_MS;
    this.defaultRttMs = options.defaultRttMs ?? DEFAULT_RTT_MS;
  }

  protected override rebuild(): void {
    const now = this.clock.now();
    let sum = 0;
    let known = 0;
    for (const endpoint of this.eligible) {
      if (endpoint.ewmaMs < 0) continue;
      sum += this.estimate(endpoint, now);
      known++;
    }
    const neutral = known > 0 ? sum / known : this.defaultRttMs;
    for (const endpoint of this.eligible) {
      if (endpoint.ewmaMs >= 0) continue;
      endpoint.ewmaMs = neutral;
      endpoint.ewmaStamp = now;
    }
  }

  /** The latency estimate decayed to `now`. */
  private estimate(endpoint: E, now: number): number {
    const elapsed = now - endpoint.ewmaStamp;
    return elapsed > 0 ? endpoint.ewmaMs * Math.exp(-elapsed / this.decayMs) : endpoint.ewmaMs;
  }

  protected cost(endpoint: E, now: number): number {
    const estimate = endpoint.ewmaMs < 0 ? this.defaultRttMs : this.estimate(endpoint, now);
    return (estimate * (endpoint.inFlight + 1)) / endpoint.weight;
  }

  override onRequestEnd(endpoint: E, latencyMs: number, success: boolean): void {
    super.onRequestEnd(endpoint, latencyMs, success);
    const now = this.clock.now();
    const rtt = Math.max(latencyMs, 0);
    if (endpoint.ewmaMs < 0) {
      endpoint.ewmaMs = rtt;
    } else {
      const elapsed = now - endpoint.ewmaStamp;
      const keep = elapsed > 0 ? Math.exp(-elapsed / this.decayMs) : 1;
      const decayed = endpoint.ewmaMs * keep;
      endpoint.ewmaMs = rtt > decayed ? rtt : decayed + rtt * (1 - keep);
    }
    endpoint.ewmaStamp = now;
  }
}

export function createEwmaBalancer<E extends Endpoint = Endpoint>(options: BalancerOptions): Balancer<E> {
  return new EwmaBalancer<E>(options);
}
