import { BaseBalancer, randomIndex, scanIndex } from './base.ts';
import type { Balancer, BalancerOptions, Endpoint } from './types.ts';

const DEFAULT_MAX_SCHEDULE = 65_536;
/** Upper bound on schedule length × endpoints, the work of one rebuild (~tens of ms at worst). */
const BUILD_BUDGET = 1 << 24;

/**
 * nginx's smooth weighted round-robin: weights {a: 5, b: 1, c: 1} give a a b a c a a, not a a a a a b c.
 *
 * nginx computes each pick in O(n); here the whole cycle (sum of weights / their gcd picks) is computed
 * once per `setEndpoints()` and a pick is one array read. When the cycle would be longer than
 * `maxScheduleLength` (or too costly to build for a large cluster) the weights are scaled down to fit,
 * which keeps proportions to within about 0.5 / (scaled weight).
 */
class WeightedBalancer<E extends Endpoint> extends BaseBalancer<E> {
  readonly kind = 'weighted';
  private readonly maxLength: number;
  private schedule = new Int32Array(0);
  private position = 0;

  constructor(options: BalancerOptions) {
    super(options);
    this.maxLength = options.maxScheduleLength ?? DEFAULT_MAX_SCHEDULE;
  }

  protected rebuild(): void {
    const list = this.eligible;
    const n = list.length;
    const weights = new Float64Array(n);
    for (let i = 0; i < n; i++) weights[i] = Math.max(1, Math.round(list[i].weight));
    let total = reduceByGcd(weights);
    const limit = Math.max(n, Math.min(this.maxLength, Math.floor(BUILD_BUDGET / Math.max(n, 1))));
    if (total > limit) {
      for (let i = 0; i < n; i++) weights[i] = Math.max(1, Math.round((weights[i] * limit) / total));
      total = reduceByGcd(weights);
    }
    const schedule = new Int32Array(total);
    const current = new Float64Array(n);
    for (let step = 0; step < total; step++) {
      let best = 0;
      for (let i = 0; i < n; i++) {
        current[i] += weights[i];
        if (current[i] > current[best]) best = i;
      }
      current[best] -= total;
      schedule[step] = best;
    }
    this.schedule = schedule;
    this.position = total > 0 ? randomIndex(this.random, total) : 0;
  }

  pick(_hashKey?: string, exclude?: E): E | undefined {
    const list = this.eligible;
    const schedule = this.schedule;
    const length = schedule.length;
    if (length === 0) return undefined;
    let position = this.position;
    this.position = position + 1 === length ? 0 : position + 1;
    const endpoint = list[schedule[position]];
    if (this.acceptable(endpoint, exclude)) return endpoint;
    const fallback = list[scanIndex(list, schedule[position] + 1, exclude, this.clock)];
    // Only the excluded endpoint, or only ejected ones (panic): nothing better on the schedule.
    if (!this.acceptable(fallback, exclude)) return fallback;
    // Consume the schedule up to the next acceptable endpoint, so the skipped turns go to the others in
    // proportion to their weights.
    for (let k = 1; k < length; k++) {
      position = this.position;
      this.position = position + 1 === length ? 0 : position + 1;
      const candidate = list[schedule[position]];
      if (this.acceptable(candidate, exclude)) return candidate;
    }
    return fallback;
  }
}

/** Divides all weights by their gcd in place and returns the new sum. */
function reduceByGcd(weights: Float64Array): number {
  let divisor = 0;
  for (const weight of weights) divisor = gcd(divisor, weight);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    weights[i] = weights[i] / divisor;
    total += weights[i];
  }
  return total;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

export function createWeightedBalancer<E extends Endpoint = Endpoint>(options: BalancerOptions): Balancer<E> {
  return new WeightedBalancer<E>(options);
}
