import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type AlertInputs, type AlertRule, conditionHolds } from '../../../src/telemetry/alert-rules.ts';
import {
  type Alert,
  type AlertEvaluatorOptions,
  createAlertEvaluator,
} from '../../../src/telemetry/alerts.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

const logger = pino({ level: 'silent' });
const INTERVAL = 1_000;

/** Values the test sets by hand, per metric and per service (`*` = mesh-wide). */
function settableInputs() {
  const values = new Map<string, number | undefined>();
  const windows: number[] = [];
  const key = (metric: string, service: string | undefined) => `${metric}:${service ?? '*'}`;
  const inputs: AlertInputs = {
    errorRate: (service, windowMs) => {
      windows.push(windowMs);
      return values.get(key('errorRate', service));
    },
    p99: (service, windowMs) => {
      windows.push(windowMs);
      return values.get(key('p99Latency', service));
    },
    unhealthyInstances: (service) => values.get(key('unhealthyInstances', service)),
    openCircuits: (service) => values.get(key('openCircuits', service)),
  };
  return {
    inputs,
    windows,
    set(metric: AlertRule['metric'], service: string | undefined, value: number | undefined) {
      values.set(key(metric, service), value);
    },
  };
}

function rule(overrides: Partial<AlertRule> & Pick<AlertRule, 'name' | 'metric'>): AlertRule {
  return { op: '>', threshold: 0, forMs: 0, severity: 'warning', ...overrides };
}

function setup(rules: AlertRule[], options: Partial<AlertEvaluatorOptions> = {}) {
  const clock = createFakeClock();
  const data = settableInputs();
  const notified: Alert[][] = [];
  const evaluator = createAlertEvaluator({
    inputs: data.inputs,
    clock,
    logger,
    intervalMs: INTERVAL,
    rules,
    notifier: { notify: (alerts) => notified.push([...alerts]) },
    ...options,
  });
  evaluator.start();
  const states = () => Object.fromEntries(evaluator.list().map((alert) => [alert.id, alert.state]));
  return { clock, data, evaluator, notified, states, tick: () => clock.advance(INTERVAL) };
}

describe('alert evaluator', () => {
  it('is pending until the condition has held for `for`, then fires, then resolves with timestamps', () => {
    const { clock, data, evaluator, notified, tick } = setup([
      rule({ name: 'errors', metric: 'errorRate', op: '>', threshold: 0.05, forMs: 3_000, windowMs: 60_000 }),
    ]);
    const start = clock.now();
    data.set('errorRate', undefined, 0.01);
    tick();
    expect(evaluator.list()).toEqual([]);

    data.set('errorRate', undefined, 0.2);
    tick(); // t+2s: condition first seen
    const [pending] = evaluator.list();
    expect(pending).toMatchObject({ rule: 'errors', state: 'pending', value: 0.2, activeAt: start + 2_000 });
    expect(pending!.firedAt).toBeUndefined();
    tick();
    tick(); // t+4s: held for 2s
    expect(evaluator.list({ state: ['pending'] })).toHaveLength(1);
    expect(notified).toEqual([]);

    data.set('errorRate', undefined, 0.3);
    tick(); // t+5s: held for 3s
    const [firing] = evaluator.list();
    expect(firing).toMatchObject({
      state: 'firing',
      value: 0.3,
      activeAt: start + 2_000,
      firedAt: start + 5_000,
    });
    expect(notified).toHaveLength(1);
    expect(notified[0]).toMatchObject([{ rule: 'errors', state: 'firing', firedAt: start + 5_000 }]);

    tick(); // still holding: no new notification
    expect(notified).toHaveLength(1);

    data.set('errorRate', undefined, 0.04);
    tick(); // t+7s
    const [resolved] = evaluator.list();
    expect(resolved).toMatchObject({
      state: 'resolved',
      value: 0.04,
      firedAt: start + 5_000,
      resolvedAt: start + 7_000,
      resolution: 'recovered',
    });
    expect(notified).toHaveLength(2);
    expect(notified[1]).toMatchObject([{ id: firing!.id, state: 'resolved', resolvedAt: start + 7_000 }]);
    expect(evaluator.lastEvaluatedAt()).toBe(start + 7_000);
  });

  it('fires at once when `for` is 0', () => {
    const { data, evaluator, notified, tick } = setup([
      rule({ name: 'down', metric: 'unhealthyInstances', op: '>=', threshold: 1 }),
    ]);
    data.set('unhealthyInstances', undefined, 1);
    tick();
    expect(evaluator.list()).toMatchObject([{ state: 'firing', value: 1 }]);
    expect(notified).toHaveLength(1);
  });

  it('never fires a flapping condition that does not hold for `for`, and does not notify', () => {
    const { data, evaluator, notified, tick } = setup([
      rule({ name: 'flappy', metric: 'openCircuits', op: '>', threshold: 0, forMs: 2_500 }),
    ]);
    for (let i = 0; i < 10; i++) {
      data.set('openCircuits', undefined, i % 3 === 2 ? 0 : 1); // holds for 2 ticks (2s), then breaks
      tick();
    }
    expect(evaluator.list({ state: ['firing', 'resolved'] })).toEqual([]);
    expect(notified).toEqual([]);

    // Once it holds long enough it fires; each recovery and relapse is a new occurrence.
    data.set('openCircuits', undefined, 1);
    for (let i = 0; i < 4; i++) tick();
    data.set('openCircuits', undefined, 0);
    tick();
    data.set('openCircuits', undefined, 2);
    for (let i = 0; i < 4; i++) tick();
    const alerts = evaluator.list();
    expect(alerts.map((alert) => alert.state)).toEqual(['firing', 'resolved']);
    expect(alerts[0]!.id).not.toBe(alerts[1]!.id);
    expect(notified.map((batch) => batch.map((alert) => alert.state))).toEqual([
      ['firing'],
      ['resolved'],
      ['firing'],
    ]);
  });

  it('keeps an alert as it is while there is no data', () => {
    const { clock, data, evaluator, tick } = setup([
      rule({ name: 'slow', metric: 'p99Latency', op: '>', threshold: 250, forMs: 2_000, windowMs: 30_000 }),
    ]);
    data.set('p99Latency', undefined, 400);
    tick();
    const activeAt = clock.now();
    data.set('p99Latency', undefined, undefined);
    for (let i = 0; i < 5; i++) tick();
    // No data does not promote the pending alert, nor drop it.
    expect(evaluator.list()).toMatchObject([{ state: 'pending', activeAt, value: 400 }]);
    data.set('p99Latency', undefined, 300);
    tick();
    expect(evaluator.list()).toMatchObject([{ state: 'firing', activeAt }]);
    data.set('p99Latency', undefined, Number.NaN); // not a number is no data either
    tick();
    expect(evaluator.list()).toMatchObject([{ state: 'firing' }]);
  });

  it('reads each metric kind, with the rule window for rates and latency', () => {
    const { data, evaluator, tick } = setup([
      rule({ name: 'e', metric: 'errorRate', op: '>=', threshold: 0.5, windowMs: 300_000 }),
      rule({ name: 'p', metric: 'p99Latency', op: '>', threshold: 100, windowMs: 5_000 }),
      rule({ name: 'u', metric: 'unhealthyInstances', op: '>', threshold: 2 }),
      rule({ name: 'c', metric: 'openCircuits', op: '>', threshold: 0 }),
    ]);
    data.set('errorRate', undefined, 0.5);
    data.set('p99Latency', undefined, 100); // not above 100
    data.set('unhealthyInstances', undefined, 3);
    data.set('openCircuits', undefined, 0);
    tick();
    expect(
      evaluator
        .list()
        .map((alert) => alert.rule)
        .sort(),
    ).toEqual(['e', 'u']);
    expect(data.windows.sort((a, b) => a - b)).toEqual([5_000, 300_000]);
  });

  it('evaluates per-service rules on that service only, and mesh-wide rules on the mesh', () => {
    const { data, evaluator, tick } = setup([
      rule({ name: 'orders-down', metric: 'unhealthyInstances', service: 'orders' }),
      rule({ name: 'mesh-down', metric: 'unhealthyInstances', op: '>=', threshold: 3 }),
    ]);
    data.set('unhealthyInstances', 'orders', 0);
    data.set('unhealthyInstances', 'billing', 2);
    data.set('unhealthyInstances', undefined, 2);
    tick();
    expect(evaluator.list()).toEqual([]);
    data.set('unhealthyInstances', 'orders', 1);
    data.set('unhealthyInstances', undefined, 3);
    tick();
    const alerts = evaluator.list();
    expect(alerts.map((alert) => [alert.rule, alert.service])).toEqual(
      expect.arrayContaining([
        ['orders-down', 'orders'],
        ['mesh-down', undefined],
      ]),
    );
    expect(alerts).toHaveLength(2);
  });

  it('compares with each operator', () => {
    expect([conditionHolds('>', 1, 1), conditionHolds('>=', 1, 1)]).toEqual([false, true]);
    expect([conditionHolds('<', 1, 1), conditionHolds('<=', 1, 1), conditionHolds('<', 0, 1)]).toEqual([
      false,
      true,
      true,
    ]);
  });

  it('treats an input that throws as no data', () => {
    const clock = createFakeClock();
    let fail = false;
    const evaluator = createAlertEvaluator({
      inputs: {
        errorRate: () => undefined,
        p99: () => undefined,
        unhealthyInstances: () => {
          if (fail) throw new Error('registry gone');
          return 1;
        },
        openCircuits: () => undefined,
      },
      clock,
      logger,
      intervalMs: INTERVAL,
      rules: [rule({ name: 'u', metric: 'unhealthyInstances' })],
    });
    evaluator.evaluate();
    fail = true;
    expect(() => evaluator.evaluate()).not.toThrow();
    expect(evaluator.list()).toMatchObject([{ state: 'firing' }]);
  });

  it('resolves the alert of a removed rule, keeps it through an edit, restarts it when the subject changes', () => {
    const { data, evaluator, notified, tick } = setup([
      rule({ name: 'a', metric: 'unhealthyInstances', service: 'orders' }),
      rule({ name: 'b', metric: 'unhealthyInstances', service: 'billing' }),
    ]);
    data.set('unhealthyInstances', 'orders', 1);
    data.set('unhealthyInstances', 'billing', 1);
    tick();
    expect(evaluator.list({ state: ['firing'] })).toHaveLength(2);
    const firedA = evaluator.list({ rule: 'a' })[0]!;

    evaluator.setRules([
      rule({ name: 'a', metric: 'unhealthyInstances', service: 'orders', severity: 'critical' }),
      rule({ name: 'b', metric: 'unhealthyInstances', service: 'shipping' }),
    ]);
    expect(evaluator.list({ rule: 'a' })).toMatchObject([
      { id: firedA.id, state: 'firing', severity: 'critical' },
    ]);
    expect(evaluator.list({ rule: 'b' })).toMatchObject([{ state: 'resolved', resolution: 'rule-changed' }]);

    evaluator.setRules([]);
    expect(evaluator.list({ rule: 'a' })).toMatchObject([{ state: 'resolved', resolution: 'rule-removed' }]);
    expect(evaluator.list({ state: ['pending', 'firing'] })).toEqual([]);
    expect(evaluator.rules()).toEqual([]);
    expect(notified.map((batch) => batch.map((alert) => `${alert.rule}:${alert.state}`))).toEqual([
      ['a:firing', 'b:firing'],
      ['b:resolved'],
      ['a:resolved'],
    ]);
  });

  it('keeps a bounded history, newest first', () => {
    const { data, evaluator, tick } = setup([rule({ name: 'u', metric: 'unhealthyInstances' })], {
      historySize: 3,
    });
    for (let i = 0; i < 5; i++) {
      data.set('unhealthyInstances', undefined, 1);
      tick();
      data.set('unhealthyInstances', undefined, 0);
      tick();
    }
    const resolved = evaluator.list({ state: ['resolved'] });
    expect(resolved).toHaveLength(3);
    const times = resolved.map((alert) => alert.resolvedAt!);
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('lists copies, filtered by state and rule', () => {
    const { data, evaluator, tick } = setup([
      rule({ name: 'x', metric: 'unhealthyInstances' }),
      rule({ name: 'y', metric: 'openCircuits', forMs: 60_000 }),
    ]);
    data.set('unhealthyInstances', undefined, 1);
    data.set('openCircuits', undefined, 1);
    tick();
    expect(evaluator.list({ state: ['pending'] }).map((alert) => alert.rule)).toEqual(['y']);
    expect(evaluator.list({ state: ['firing'] }).map((alert) => alert.rule)).toEqual(['x']);
    expect(evaluator.list().map((alert) => alert.state)).toEqual(['firing', 'pending']);
    evaluator.list()[0]!.state = 'resolved';
    expect(evaluator.list()[0]!.state).toBe('firing');
  });

  it('changes state without notifying while shouldNotify says no, and survives a notifier that throws', () => {
    let leader = false;
    const { data, evaluator, notified, tick } = setup([rule({ name: 'u', metric: 'unhealthyInstances' })], {
      shouldNotify: () => leader,
    });
    data.set('unhealthyInstances', undefined, 1);
    tick();
    expect(evaluator.list()).toMatchObject([{ state: 'firing' }]);
    expect(notified).toEqual([]);
    leader = true;
    data.set('unhealthyInstances', undefined, 0);
    tick();
    expect(notified).toMatchObject([[{ state: 'resolved' }]]);

    const values = settableInputs();
    values.set('unhealthyInstances', undefined, 1);
    let calls = 0;
    const throwing = createAlertEvaluator({
      inputs: values.inputs,
      clock: createFakeClock(),
      logger,
      intervalMs: INTERVAL,
      rules: [rule({ name: 'z', metric: 'unhealthyInstances' })],
      notifier: {
        notify() {
          calls++;
          throw new Error('boom');
        },
      },
    });
    expect(() => throwing.evaluate()).not.toThrow();
    expect(calls).toBe(1);
    expect(throwing.list()).toMatchObject([{ state: 'firing' }]);
  });

  it('evaluates on its own timer until stopped', () => {
    const { clock, data, evaluator } = setup([rule({ name: 'u', metric: 'unhealthyInstances' })]);
    data.set('unhealthyInstances', undefined, 1);
    clock.advance(INTERVAL - 1);
    expect(evaluator.lastEvaluatedAt()).toBe(0);
    clock.advance(1);
    expect(evaluator.lastEvaluatedAt()).toBe(clock.now());
    evaluator.start(); // idempotent: still one timer
    expect(clock.pendingTimers).toBe(1);
    evaluator.stop();
    expect(clock.pendingTimers).toBe(0);
    const stoppedAt = evaluator.lastEvaluatedAt();
    clock.advance(10 * INTERVAL);
    expect(evaluator.lastEvaluatedAt()).toBe(stoppedAt);
  });
});
