/**
 * The alert evaluator: every `intervalMs` it reads each rule's value through `AlertInputs` and
 * moves the rule's alert pending → firing → resolved (Prometheus's semantics: a condition must hold
 * for `forMs` before it fires; a pending alert whose condition stops holding is dropped). Resolved
 * alerts are kept in a bounded history. Changes (fired, resolved) go to the notifier, which must
 * not block: the evaluation is synchronous.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/index.ts';
import {
  type AlertInputs,
  type AlertMetric,
  type AlertOp,
  type AlertRule,
  type AlertSeverity,
  conditionHolds,
  readMetric,
  sameSubject,
} from './alert-rules.ts';

export const ALERT_STATES = ['pending', 'firing', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/** Why a firing alert was resolved. */
export type AlertResolution = 'recovered' | 'rule-removed' | 'rule-changed';

export interface Alert {
  /** One occurrence of a rule's alert: `<rule>@<activeAt>`. */
  id: string;
  rule: string;
  metric: AlertMetric;
  service?: string;
  op: AlertOp;
  threshold: number;
  windowMs?: number;
  severity: AlertSeverity;
  description?: string;
  state: AlertState;
  /** The last value read; for a resolved alert, the value that resolved it. */
  value: number;
  /** When the condition was first seen to hold (the alert became pending). */
  activeAt: number;
  firedAt?: number;
  resolvedAt?: number;
  resolution?: AlertResolution;
  /** The last evaluation that read a value for it. */
  evaluatedAt: number;
}

export interface AlertNotifier {
  /** The alerts that fired or resolved in one evaluation (copies). Must return at once. */
  notify(alerts: readonly Alert[]): void;
}

export interface AlertEvaluatorOptions {
  inputs: AlertInputs;
  clock: Clock;
  logger: Logger;
  /** Time between two evaluations once started. */
  intervalMs: number;
  rules?: readonly AlertRule[];
  notifier?: AlertNotifier;
  /**
   * Asked before each notification; false skips it (the alert states still change). With several
   * control planes, only the health-check leader should notify.
   */
  shouldNotify?: () => boolean;
  /** Resolved alerts kept, oldest dropped first; default 500. */
  historySize?: number;
}

export interface AlertFilter {
  /** Default: every state. */
  state?: readonly AlertState[];
  rule?: string;
}

export interface AlertEvaluator {
  /** Evaluates every `intervalMs` from now on (idempotent). */
  start(): void;
  stop(): void;
  /** Replaces the rules; alerts of removed rules, or of rules now watching something else, resolve. */
  setRules(rules: readonly AlertRule[]): void;
  rules(): readonly AlertRule[];
  /** One evaluation now (the timer calls this too). */
  evaluate(): void;
  /** Firing, then pending, then resolved; newest first within each. Copies. */
  list(filter?: AlertFilter): Alert[];
  /** Time of the last evaluation, 0 before the first. */
  lastEvaluatedAt(): number;
}

const DEFAULT_HISTORY_SIZE = 500;
/** Input failures are logged at most this often per rule. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

export function createAlertEvaluator(options: AlertEvaluatorOptions): AlertEvaluator {
  const { inputs, clock, notifier, intervalMs } = options;
  const logger = options.logger.child({ part: 'alerts' });
  const historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
  const shouldNotify = options.shouldNotify ?? (() => true);

  let rules = new Map<string, AlertRule>();
  /** Pending or firing, by rule name. */
  const active = new Map<string, Alert>();
  /** Resolved, oldest first. */
  const history: Alert[] = [];
  const failureLoggedAt = new Map<string, number>();
  let timer: TimerHandle | undefined;
  let evaluatedAt = 0;

  function replaceRules(next: readonly AlertRule[]): void {
    const byName = new Map<string, AlertRule>();
    for (const rule of next) byName.set(rule.name, rule);
    rules = byName;
  }
  replaceRules(options.rules ?? []);

  function send(changed: Alert[]): void {
    if (changed.length === 0 || !notifier) return;
    let notify: boolean;
    try {
      notify = shouldNotify();
    } catch (error) {
      logger.warn({ err: error }, 'alerts: shouldNotify threw; not notifying');
      return;
    }
    if (!notify) return;
    try {
      notifier.notify(changed.map(copy));
    } catch (error) {
      logger.warn({ err: error }, 'alerts: the notifier threw');
    }
  }

  function fire(alert: Alert, now: number, changed: Alert[]): void {
    alert.state = 'firing';
    alert.firedAt = now;
    changed.push(alert);
    logger.info({ rule: alert.rule, value: alert.value }, 'alert firing');
  }

  function resolve(alert: Alert, now: number, resolution: AlertResolution, changed: Alert[]): void {
    active.delete(alert.rule);
    if (alert.state !== 'firing') return; // a pending alert never fired: nothing to resolve
    alert.state = 'resolved';
    alert.resolvedAt = now;
    alert.resolution = resolution;
    history.push(alert);
    if (history.length > historySize) history.splice(0, history.length - historySize);
    changed.push(alert);
    logger.info({ rule: alert.rule, value: alert.value, resolution }, 'alert resolved');
  }

  function read(rule: AlertRule, now: number): number | undefined {
    try {
      const value = readMetric(inputs, rule);
      return value !== undefined && Number.isFinite(value) ? value : undefined;
    } catch (error) {
      const last = failureLoggedAt.get(rule.name) ?? 0;
      if (now - last >= FAILURE_LOG_INTERVAL_MS || last === 0) {
        failureLoggedAt.set(rule.name, now);
        logger.warn({ err: error, rule: rule.name }, 'alerts: reading the metric failed; no data');
      }
      return undefined;
    }
  }

  function evaluateRule(rule: AlertRule, now: number, changed: Alert[]): void {
    const value = read(rule, now);
    if (value === undefined) return; // no data: the alert stays as it is
    const alert = active.get(rule.name);
    if (!conditionHolds(rule.op, value, rule.threshold)) {
      if (alert) {
        alert.value = value;
        alert.evaluatedAt = now;
        resolve(alert, now, 'recovered', changed);
      }
      return;
    }
    if (alert) {
      alert.value = value;
      alert.evaluatedAt = now;
      if (alert.state === 'pending' && now - alert.activeAt >= rule.forMs) fire(alert, now, changed);
      return;
    }
    const created = newAlert(rule, value, now);
    active.set(rule.name, created);
    if (rule.forMs <= 0) fire(created, now, changed);
  }

  const evaluator: AlertEvaluator = {
    start() {
      if (timer !== undefined) return;
      const tick = () => {
        try {
          evaluator.evaluate();
        } finally {
          // stop() during the evaluation cleared `timer`: do not re-arm.
          if (timer !== undefined) schedule();
        }
      };
      const schedule = () => {
        timer = clock.setTimeout(tick, intervalMs);
        timer.unref?.();
      };
      schedule();
    },

    stop() {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },

    setRules(next) {
      replaceRules(next);
      const now = clock.now();
      const changed: Alert[] = [];
      for (const alert of [...active.values()]) {
        const rule = rules.get(alert.rule);
        if (!rule) {
          resolve(alert, now, 'rule-removed', changed);
        } else if (!sameSubject(rule, alert)) {
          resolve(alert, now, 'rule-changed', changed);
        } else {
          applyRule(alert, rule);
        }
      }
      for (const name of failureLoggedAt.keys()) if (!rules.has(name)) failureLoggedAt.delete(name);
      send(changed);
    },

    rules: () => [...rules.values()],

    evaluate() {
      const now = clock.now();
      const changed: Alert[] = [];
      for (const rule of rules.values()) evaluateRule(rule, now, changed);
      evaluatedAt = now;
      send(changed);
    },

    list(filter = {}) {
      const states = filter.state ? new Set(filter.state) : undefined;
      const wanted = (alert: Alert) =>
        (states === undefined || states.has(alert.state)) &&
        (filter.rule === undefined || alert.rule === filter.rule);
      const current = [...active.values()].filter(wanted);
      const firing = current.filter((alert) => alert.state === 'firing').sort(newestFirst);
      const pending = current.filter((alert) => alert.state === 'pending').sort(newestFirst);
      const resolved: Alert[] = [];
      for (let i = history.length - 1; i >= 0; i--) if (wanted(history[i]!)) resolved.push(history[i]!);
      return [...firing, ...pending, ...resolved].map(copy);
    },

    lastEvaluatedAt: () => evaluatedAt,
  };
  return evaluator;
}

function newAlert(rule: AlertRule, value: number, now: number): Alert {
  const alert: Alert = {
    id: `${rule.name}@${now}`,
    rule: rule.name,
    metric: rule.metric,
    op: rule.op,
    threshold: rule.threshold,
    severity: rule.severity,
    state: 'pending',
    value,
    activeAt: now,
    evaluatedAt: now,
  };
  if (rule.service !== undefined) alert.service = rule.service;
  if (rule.windowMs !== undefined) alert.windowMs = rule.windowMs;
  if (rule.description !== undefined) alert.description = rule.description;
  return alert;
}

/** A rule edited in place (threshold, severity…) keeps its alert, which shows the new settings. */
function applyRule(alert: Alert, rule: AlertRule): void {
  alert.op = rule.op;
  alert.threshold = rule.threshold;
  alert.severity = rule.severity;
  if (rule.windowMs === undefined) delete alert.windowMs;
  else alert.windowMs = rule.windowMs;
  if (rule.description === undefined) delete alert.description;
  else alert.description = rule.description;
}

function newestFirst(a: Alert, b: Alert): number {
  return b.activeAt - a.activeAt || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0);
}

function copy(alert: Alert): Alert {
  return { ...alert };
}
