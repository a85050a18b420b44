/**
 * Alert rules as the evaluator sees them: already validated (the schema is `alertRuleInput` in
 * config, whose output has this shape) and with durations in milliseconds.
 */
export const ALERT_METRICS = ['errorRate', 'p99Latency', 'unhealthyInstances', 'openCircuits'] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const ALERT_OPS = ['>', '>=', '<', '<='] as const;
export type AlertOp = (typeof ALERT_OPS)[number];

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export interface AlertRule {
  readonly name: string;
  readonly metric: AlertMetric;
  /** Absent: the whole mesh. */
  readonly service?: string;
  readonly op: AlertOp;
  /** errorRate: a ratio (0.05 = 5%); p99Latency: milliseconds; the others: a count. */
  readonly threshold: number;
  /** How long the condition must hold before the alert fires; 0 fires at the first evaluation. */
  readonly forMs: number;
  /** errorRate and p99Latency are read over this window. */
  readonly windowMs?: number;
  readonly severity: AlertSeverity;
  readonly description?: string;
}

/**
 * Where the evaluator reads values. `undefined` means "no data" (no traffic in the window, no proxy
 * in this process): the rule's alert stays as it is. `service` undefined means mesh-wide.
 */
export interface AlertInputs {
  /** Failed requests / requests over the window, 0-1. */
  errorRate(service: string | undefined, windowMs: number): number | undefined;
  /** 99th-percentile request duration over the window, milliseconds. */
  p99(service: string | undefined, windowMs: number): number | undefined;
  unhealthyInstances(service: string | undefined): number | undefined;
  /** Endpoints whose circuit breaker is not closed. */
  openCircuits(service: string | undefined): number | undefined;
}

/** When a rule has no `windowMs` (it should, for the windowed metrics). */
const FALLBACK_WINDOW_MS = 60_000;

/** Reads the value a rule watches (it may throw: the input's own failure). */
export function readMetric(inputs: AlertInputs, rule: AlertRule): number | undefined {
  switch (rule.metric) {
    case 'errorRate':
      return inputs.errorRate(rule.service, rule.windowMs ?? FALLBACK_WINDOW_MS);
    case 'p99Latency':
      return inputs.p99(rule.service, rule.windowMs ?? FALLBACK_WINDOW_MS);
    case 'unhealthyInstances':
      return inputs.unhealthyInstances(rule.service);
    case 'openCircuits':
      return inputs.openCircuits(rule.service);
  }
}

export function conditionHolds(op: AlertOp, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

type Subject = Pick<AlertRule, 'metric' | 'service'>;

/** Whether two rules watch the same thing (an alert survives a change of threshold or severity). */
export function sameSubject(a: Subject, b: Subject): boolean {
  return a.metric === b.metric && a.service === b.service;
}

/** "errorRate of orders > 0.05 over 5m" */
export function describeRule(
  rule: Pick<AlertRule, 'metric' | 'service' | 'op' | 'threshold' | 'windowMs'>,
): string {
  const subject = rule.service === undefined ? 'the mesh' : rule.service;
  const over = rule.windowMs === undefined ? '' : ` over ${rule.windowMs}ms`;
  return `${rule.metric} of ${subject} ${rule.op} ${rule.threshold}${over}`;
}
