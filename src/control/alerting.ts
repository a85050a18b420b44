/**
 * Alerting on one control-plane node: the stored rules (trellis.yaml's rules written over them at
 * start), the evaluator fed from this node's registry, proxy and statistics, and the optional webhook.
 * Every node evaluates (so any node answers GET /api/v1/alerts); only the health-check leader
 * notifies, so a mesh with several control planes sends each notification once.
 */
import type { Logger } from 'pino';
import type { AlertSettings } from '../config/index.ts';
import { type Clock, systemClock } from '../core/index.ts';
import { type AlertRuleStore, createAlertRuleStore, type Registry } from '../registry/index.ts';
import type { Store } from '../store/index.ts';
import { type AlertEvaluator, createAlertEvaluator } from '../telemetry/alerts.ts';
import { createWebhookNotifier, type WebhookNotifier } from '../telemetry/alerts-webhook.ts';
import { type CircuitCluster, createAlertInputs, type WindowedStats } from './alert-inputs.ts';
import type { LeaderView } from './context.ts';

export interface AlertingOptions {
  settings: AlertSettings;
  store: Store;
  registry: Registry;
  logger: Logger;
  /** Whether this node notifies; default: always. */
  leader?: LeaderView;
  clock?: Clock;
  /** Read at every evaluation, so a proxy started later is seen. */
  clusters?: () => Iterable<CircuitCluster>;
  stats?: WindowedStats;
}

export interface Alerting {
  readonly evaluator: AlertEvaluator;
  readonly rules: AlertRuleStore;
  /** Starts evaluating; `externalUrl` (this node's URL) goes into webhook payloads. */
  start(externalUrl: string): void;
  /** The webhook notifier once started with a webhook configured. */
  webhook(): WebhookNotifier | undefined;
  close(): Promise<void>;
}

export async function createAlerting(options: AlertingOptions): Promise<Alerting> {
  const { settings, store, registry, logger, leader } = options;
  const clock = options.clock ?? systemClock;
  const rules = await createAlertRuleStore({ store, logger, clock });
  try {
    for (const rule of settings.rules) await rules.put(rule);
  } catch (error) {
    await rules.close();
    throw error;
  }

  let notifier: WebhookNotifier | undefined;
  const evaluator = createAlertEvaluator({
    inputs: createAlertInputs({ registry, clusters: options.clusters, stats: options.stats }),
    clock,
    logger,
    intervalMs: settings.evaluationInterval,
    rules: rules.list(),
    notifier: { notify: (alerts) => notifier?.notify(alerts) },
    shouldNotify: leader ? () => leader.isLeader() : undefined,
  });
  const unsubscribe = rules.onChange(() => evaluator.setRules(rules.list()));

  return {
    evaluator,
    rules,
    start(externalUrl) {
      const webhook = settings.webhook;
      if (webhook && !notifier) {
        notifier = createWebhookNotifier({
          url: webhook.url,
          timeoutMs: webhook.timeout,
          maxRetries: webhook.maxRetries,
          headers: webhook.headers,
          clock,
          logger,
          externalUrl,
        });
      }
      evaluator.start();
    },
    webhook: () => notifier,
    async close() {
      evaluator.stop();
      unsubscribe();
      await notifier?.close();
      await rules.close();
    },
  };
}
