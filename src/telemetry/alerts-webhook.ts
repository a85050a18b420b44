/**
 * Delivers alert notifications to a webhook as JSON POSTs in Alertmanager's webhook format
 * (version 4), one payload per evaluation that changed something. `notify` only queues: a slow or
 * dead receiver never delays evaluation. Payloads go out one at a time, in order; a failed attempt
 * (network error, timeout, 408, 429, 5xx) is retried with exponential back-off up to `maxRetries`
 * times, other answers are final. The queue is bounded: when it is full the oldest payload is
 * dropped (and counted), as the newest says more about the present.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { backoffCeiling, type Clock, type TimerHandle } from '../core/index.ts';
import { describeRule } from './alert-rules.ts';
import type { Alert, AlertNotifier } from './alerts.ts';

export interface WebhookNotifierOptions {
  url: string;
  clock: Clock;
  logger: Logger;
  /** Per attempt; default 5 s. */
  timeoutMs?: number;
  /** Attempts after the first; default 5. */
  maxRetries?: number;
  /** The first retry waits about this long, each next one twice as long; default 500 ms. */
  backoffBaseMs?: number;
  /** No retry waits longer than this; default 30 s. */
  backoffMaxMs?: number;
  /** Payloads waiting (the one being delivered not counted); default 100. */
  maxQueue?: number;
  /** Uniform in [0, 1), for jitter; default Math.random. */
  random?: () => number;
  /** The control plane's URL: `externalURL` and each alert's `generatorURL`. */
  externalUrl?: string;
  /** Alertmanager's `receiver`; default "trellis". */
  receiver?: string;
  /** Sent with every delivery (e.g. `authorization`); content-type and user-agent are the notifier's. */
  headers?: Readonly<Record<string, string>>;
}

export interface WebhookStats {
  /** Payloads the receiver accepted (2xx). */
  delivered: number;
  /** Payloads given up on (retries exhausted or a final answer such as 400). */
  failed: number;
  /** Payloads dropped because the queue was full or the notifier closed. */
  dropped: number;
  /** Attempts that failed and were retried. */
  retried: number;
  queued: number;
}

export interface WebhookNotifier extends AlertNotifier {
  stats(): WebhookStats;
  /** Resolves once the queue is empty and nothing is in flight. */
  idle(): Promise<void>;
  /** Stops delivering: the attempt in flight is aborted, queued payloads are dropped. */
  close(): Promise<void>;
}

/** Alertmanager's webhook payload (version 4). */
export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  /** Alertmanager's zero time while firing. */
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
  /** Not in Alertmanager's format: the value read when the alert fired or resolved. */
  value: number;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
/** Statuses worth another attempt; any other non-2xx answer is final. */
const RETRIABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;

class AttemptError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const { url, clock } = options;
  const logger = options.logger.child({ part: 'alert-webhook' });
  const timeoutMs = options.timeoutMs ?? 5_000;
  const requestHeaders = {
    ...options.headers,
    'content-type': 'application/json',
    'user-agent': 'trellis-alerts',
  };
  const maxRetries = options.maxRetries ?? 5;
  const baseMs = options.backoffBaseMs ?? 500;
  const capMs = options.backoffMaxMs ?? 30_000;
  const maxQueue = options.maxQueue ?? 100;
  const random = options.random ?? Math.random;
  const externalUrl = options.externalUrl ?? '';
  const receiver = options.receiver ?? 'trellis';

  const queue: WebhookPayload[] = [];
  const stats = { delivered: 0, failed: 0, dropped: 0, retried: 0 };
  let running = false;
  let closed = false;
  let inFlight: AbortController | undefined;
  let sleeping: { timer: TimerHandle; wake: () => void } | undefined;
  let idleWaiters: Array<() => void> = [];

  function settleIdle(): void {
    if (running || queue.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      const timer = clock.setTimeout(() => {
        sleeping = undefined;
        wake();
      }, ms);
      timer.unref?.();
      sleeping = { timer, wake };
    });
  }

  async function attempt(payload: WebhookPayload): Promise<void> {
    const controller = new AbortController();
    inFlight = controller;
    const timer = clock.setTimeout(() => controller.abort(), timeoutMs);
    timer.unref?.();
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: requestHeaders,
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
      await response.body?.cancel().catch(() => {});
      if (response.ok) return;
      const retriable = RETRIABLE_STATUS(response.status);
      throw new AttemptError(`the webhook answered ${response.status}`, retriable, retryAfter(response));
    } catch (error) {
      if (error instanceof AttemptError) throw error;
      const reason = controller.signal.aborted
        ? closed
          ? 'the notifier closed'
          : `no answer within ${timeoutMs}ms`
        : (error as Error).message;
      throw new AttemptError(`the webhook could not be reached: ${reason}`, !closed);
    } finally {
      clock.clearTimeout(timer);
      inFlight = undefined;
    }
  }

  async function deliver(payload: WebhookPayload): Promise<void> {
    for (let retry = 0; ; retry++) {
      try {
        await attempt(payload);
        stats.delivered++;
        return;
      } catch (error) {
        const failure = error as AttemptError;
        if (closed) return;
        if (!failure.retriable || retry >= maxRetries) {
          stats.failed++;
          logger.warn(
            { url, status: payload.status, alerts: payload.alerts.length, attempts: retry + 1 },
            'alert webhook delivery failed: %s',
            failure.message,
          );
          return;
        }
        stats.retried++;
        const ceiling = backoffCeiling(baseMs, capMs, retry + 1);
        // Equal jitter: at least half the ceiling, so retries never bunch up at zero.
        let delay = Math.floor(ceiling / 2 + (random() * ceiling) / 2);
        if (failure.retryAfterMs !== undefined)
          delay = Math.min(capMs, Math.max(delay, failure.retryAfterMs));
        logger.debug(
          { url, retry: retry + 1, delayMs: delay },
          'alert webhook: %s; retrying',
          failure.message,
        );
        await sleep(delay);
        if (closed) return;
      }
    }
  }

  async function run(): Promise<void> {
    running = true;
    try {
      while (!closed && queue.length > 0) await deliver(queue.shift()!);
    } finally {
      running = false;
      settleIdle();
    }
  }

  return {
    notify(alerts) {
      if (closed || alerts.length === 0) return;
      if (queue.length >= maxQueue) {
        queue.shift();
        stats.dropped++;
        logger.warn({ url, maxQueue }, 'alert webhook queue full; dropped the oldest notification');
      }
      queue.push(buildPayload(alerts, { receiver, externalUrl }));
      if (!running) void run();
    },

    stats: () => ({ ...stats, queued: queue.length }),

    idle() {
      if (!running && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },

    async close() {
      if (closed) return;
      closed = true;
      stats.dropped += queue.length;
      queue.length = 0;
      inFlight?.abort();
      if (sleeping) {
        clock.clearTimeout(sleeping.timer);
        sleeping.wake();
        sleeping = undefined;
      }
      await new Promise<void>((resolve) => {
        if (!running) resolve();
        else idleWaiters.push(resolve);
      });
    },
  };
}

/** Alertmanager's payload for one batch of changed alerts. */
export function buildPayload(
  alerts: readonly Alert[],
  context: { receiver: string; externalUrl: string },
): WebhookPayload {
  const converted = alerts.map((alert) => toWebhookAlert(alert, context.externalUrl));
  const commonLabels = common(converted.map((alert) => alert.labels));
  return {
    version: '4',
    groupKey: `{}:{alertname=~"${[...new Set(alerts.map((alert) => alert.rule))].join('|')}"}`,
    truncatedAlerts: 0,
    status: converted.some((alert) => alert.status === 'firing') ? 'firing' : 'resolved',
    receiver: context.receiver,
    groupLabels: {},
    commonLabels,
    commonAnnotations: common(converted.map((alert) => alert.annotations)),
    externalURL: context.externalUrl,
    alerts: converted,
  };
}

function toWebhookAlert(alert: Alert, externalUrl: string): WebhookAlert {
  const labels: Record<string, string> = {
    alertname: alert.rule,
    severity: alert.severity,
    metric: alert.metric,
  };
  if (alert.service !== undefined) labels.service = alert.service;
  const annotations: Record<string, string> = {
    summary: `${describeRule(alert)} (value ${alert.value})`,
  };
  if (alert.description !== undefined) annotations.description = alert.description;
  const resolved = alert.state === 'resolved';
  return {
    status: resolved ? 'resolved' : 'firing',
    labels,
    annotations,
    startsAt: new Date(alert.firedAt ?? alert.activeAt).toISOString(),
    endsAt: resolved && alert.resolvedAt !== undefined ? new Date(alert.resolvedAt).toISOString() : ZERO_TIME,
    generatorURL: externalUrl ? `${externalUrl}/api/v1/alerts?rule=${encodeURIComponent(alert.rule)}` : '',
    fingerprint: fingerprint(labels),
    value: alert.value,
  };
}

/** Stable for a set of labels, as Alertmanager's is: 16 hex digits. */
function fingerprint(labels: Record<string, string>): string {
  const text = Object.keys(labels)
    .sort()
    .map((name) => `${name}=${labels[name]}`)
    .join('\u0000');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function common(maps: Record<string, string>[]): Record<string, string> {
  if (maps.length === 0) return {};
  const result: Record<string, string> = { ...maps[0] };
  for (const map of maps.slice(1)) {
    for (const name of Object.keys(result)) if (map[name] !== result[name]) delete result[name];
  }
  return result;
}

/** A Retry-After in seconds (the HTTP-date form is ignored). */
function retryAfter(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}
