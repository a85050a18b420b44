import { describe, expect, it } from 'vitest';
import {
  alertRuleInput,
  ALERT_METRICS as CONFIG_METRICS,
  ALERT_OPS as CONFIG_OPS,
  ALERT_SEVERITIES as CONFIG_SEVERITIES,
  trellisConfig,
  validate,
} from '../../../src/config/index.ts';
import { ALERT_METRICS, ALERT_OPS, ALERT_SEVERITIES } from '../../../src/telemetry/alert-rules.ts';
import { failure, paths } from '../../helpers/mesh-error.ts';

const rule = (input: Record<string, unknown>) =>
  validate(alertRuleInput, { name: 'r', metric: 'errorRate', op: '>', threshold: 0.05, ...input });

describe('alert rule schema', () => {
  it('uses the same metrics, operators and severities as the evaluator', () => {
    expect(CONFIG_METRICS).toEqual(ALERT_METRICS);
    expect(CONFIG_OPS).toEqual(ALERT_OPS);
    expect(CONFIG_SEVERITIES).toEqual(ALERT_SEVERITIES);
  });

  it('parses durations into forMs and windowMs, with defaults', () => {
    expect(rule({})).toEqual({
      name: 'r',
      metric: 'errorRate',
      op: '>',
      threshold: 0.05,
      forMs: 0,
      windowMs: 60_000,
      severity: 'warning',
    });
    expect(
      rule({ for: '2m', window: '5m', service: 'orders', severity: 'critical', description: 'x' }),
    ).toEqual({
      name: 'r',
      metric: 'errorRate',
      service: 'orders',
      op: '>',
      threshold: 0.05,
      forMs: 120_000,
      windowMs: 300_000,
      severity: 'critical',
      description: 'x',
    });
    // Counts have no window.
    expect(rule({ metric: 'openCircuits', op: '>=', threshold: 1 })).not.toHaveProperty('windowMs');
  });

  it('accepts what it produces (a rule read from the API can be sent back)', () => {
    const parsed = rule({ metric: 'p99Latency', threshold: 250, for: '30s', window: '1m' });
    expect(rule(parsed)).toEqual(parsed);
  });

  it('names every bad field', () => {
    const error = failure(() =>
      validate(
        alertRuleInput,
        {
          name: 'bad name',
          metric: 'latency',
          op: '==',
          threshold: -1,
          for: 'soon',
          severity: 'page',
          colour: 'red',
        },
        { what: 'alert rule' },
      ),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(paths(error).sort()).toEqual(['colour', 'for', 'metric', 'name', 'op', 'severity', 'threshold']);
    expect(error.message).toMatch(/^invalid alert rule: /);
  });

  it('checks fields against each other', () => {
    expect(paths(failure(() => rule({ threshold: 5 })))).toEqual(['threshold']);
    expect(paths(failure(() => rule({ metric: 'unhealthyInstances', threshold: 1, window: '1m' })))).toEqual([
      'window',
    ]);
    expect(paths(failure(() => rule({ for: '1s', forMs: 1000 })))).toEqual(['forMs']);
    expect(paths(failure(() => rule({ window: '500ms' })))).toEqual(['window']);
    expect(paths(failure(() => rule({ window: '2h' })))).toEqual(['window']);
    expect(paths(failure(() => rule({ threshold: '5' })))).toEqual(['threshold']);
  });
});

describe('alerts in trellis.yaml', () => {
  it('defaults to no rules, no webhook and a 10 s evaluation interval', () => {
    expect(validate(trellisConfig, {}).alerts).toEqual({ evaluationInterval: 10_000, rules: [] });
  });

  it('parses rules and the webhook', () => {
    const config = validate(trellisConfig, {
      alerts: {
        evaluationInterval: '15s',
        rules: [{ name: 'down', metric: 'unhealthyInstances', op: '>', threshold: 0, for: '30s' }],
        webhook: {
          url: 'http://127.0.0.1:9093/api/v2/alerts',
          headers: { Authorization: 'Bearer receiver-secret' },
        },
      },
    });
    expect(config.alerts).toEqual({
      evaluationInterval: 15_000,
      rules: [
        {
          name: 'down',
          metric: 'unhealthyInstances',
          op: '>',
          threshold: 0,
          forMs: 30_000,
          severity: 'warning',
        },
      ],
      webhook: {
        url: 'http://127.0.0.1:9093/api/v2/alerts',
        timeout: 5_000,
        maxRetries: 5,
        headers: { Authorization: 'Bearer receiver-secret' },
      },
    });
  });

  it('names the bad field under alerts', () => {
    const error = failure(() =>
      validate(trellisConfig, {
        alerts: {
          evaluationInterval: '10ms',
          rules: [
            { name: 'a', metric: 'openCircuits', op: '>', threshold: 0 },
            { name: 'a', metric: 'openCircuits', op: '>', threshold: 1 },
            { name: 'b', metric: 'errorRate', op: '>', threshold: 0.1, window: 'forever' },
          ],
          webhook: {
            url: 'mailto:ops@example.com',
            maxRetries: 50,
            secret: 'x',
            headers: { 'Content-Type': 'text/plain', 'bad name': 'x', 'X-Ok': 'a\r\nInjected: 1' },
          },
        },
      }),
    );
    // (Duplicate names are checked once every rule is valid on its own.)
    expect(paths(error).sort()).toEqual([
      'alerts.evaluationInterval',
      'alerts.rules.2.window',
      'alerts.webhook.headers.Content-Type',
      'alerts.webhook.headers.X-Ok',
      'alerts.webhook.headers.bad name',
      'alerts.webhook.maxRetries',
      'alerts.webhook.secret',
      'alerts.webhook.url',
    ]);
    const duplicate = failure(() =>
      validate(trellisConfig, {
        alerts: {
          rules: [
            { name: 'a', metric: 'openCircuits', op: '>', threshold: 0 },
            { name: 'a', metric: 'openCircuits', op: '>', threshold: 1 },
          ],
        },
      }),
    );
    expect(paths(duplicate)).toEqual(['alerts.rules.1.name']);
    expect(duplicate.details[0]!.message).toBe('duplicate rule name "a"');
  });
});
