import {
  type AttemptOutcome,
  backoffDelay,
  type Clock,
  type RetryBudget,
  retryFits,
  shouldRetry,
} from '../../core/index.ts';
import type { ExchangeSettings } from '../upstream/index.ts';

/**
 * When the next attempt of an exchange (HTTP/1.1 or h2c) may start after `outcome`, or -1 when there
 * is none: the policy's conditions, a request that can be sent again (`replayable`), the deadline
 * (absolute ms) and the retry budget must all allow it. A budget refusal is counted in `stats`.
 * The clock is read only for an outcome the policy retries (not for every 2xx response).
 */
export function retryAt(
  settings: ExchangeSettings,
  attempt: number,
  method: string,
  replayable: boolean,
  bodyBuffered: boolean,
  deadline: number,
  outcome: AttemptOutcome,
  clock: Clock,
  random: () => number,
  budget: RetryBudget,
  stats: { budgetExhausted: number } | null,
): number {
  if (!settings.retries || !replayable) return -1;
  const policy = settings.retry;
  if (!shouldRetry(policy, attempt, method, bodyBuffered, outcome)) return -1;
  const delay = backoffDelay(policy.backoffBaseMs, policy.backoffCapMs, attempt, random);
  const now = clock.now();
  if (!retryFits(now, deadline, delay, 1)) return -1;
  if (!budget.tryAcquireRetry()) {
    if (stats !== null) stats.budgetExhausted++;
    return -1;
  }
  return now + delay;
}
