/** Alerts under /api/v1/alerts: the current and resolved alerts, and the rules (stored, validated). */
import { alertRuleInput, alertRuleName, validate } from '../../config/index.ts';
import { MeshError } from '../../core/index.ts';
import type { AlertRuleStore } from '../../registry/index.ts';
import { ALERT_STATES, type AlertEvaluator, type AlertState } from '../../telemetry/alerts.ts';
import type { ControlRouter } from '../context.ts';
import { json } from '../http.ts';

const BASE = '/api/v1/alerts';

export interface AlertsApiDeps {
  evaluator: Pick<AlertEvaluator, 'list' | 'lastEvaluatedAt'>;
  rules: AlertRuleStore;
}

export function registerAlertRoutes(router: ControlRouter, deps: AlertsApiDeps): void {
  const { evaluator, rules } = deps;

  router
    .add('GET', BASE, ({ query }) => {
      const state = parseStates(query.get('state'));
      const rule = query.get('rule') ?? undefined;
      return json({ alerts: evaluator.list({ state, rule }), evaluatedAt: evaluator.lastEvaluatedAt() });
    })

    .add('GET', `${BASE}/rules`, () => json({ rules: rules.list() }))

    .add('GET', `${BASE}/rules/:name`, ({ params }) => {
      const rule = rules.get(params.name!);
      if (!rule) throw ruleNotFound(params.name!);
      return json(rule);
    })

    // Creates or replaces; the name comes from the path (a name in the body must agree with it).
    .add('PUT', `${BASE}/rules/:name`, async (ctx) => {
      const name = ctx.params.name!;
      const checked = alertRuleName.safeParse(name);
      if (!checked.success) throw badRule('name', checked.error.issues[0]!.message);
      const body = await ctx.body();
      const input = isObject(body) && body.name === undefined ? { ...body, name } : body;
      const rule = validate(alertRuleInput, input, { what: 'alert rule' });
      if (rule.name !== name) throw badRule('name', `must be "${name}" (the name in the path)`);
      const { rule: stored, created } = await rules.put(rule);
      return json(stored, created ? 201 : 200);
    })

    .add('DELETE', `${BASE}/rules/:name`, async ({ params }) => {
      if (!(await rules.delete(params.name!))) throw ruleNotFound(params.name!);
      return json({ deleted: true });
    });
}

function parseStates(raw: string | null): AlertState[] | undefined {
  if (raw === null || raw === '') return undefined;
  const states = raw.split(',').map((state) => state.trim());
  for (const state of states) {
    if (!(ALERT_STATES as readonly string[]).includes(state)) {
      const message = `expected one or more of ${ALERT_STATES.join(', ')} (comma-separated), got "${state}"`;
      throw new MeshError('BAD_REQUEST', `invalid query: state: ${message}`, {
        details: [{ path: 'state', message }],
      });
    }
  }
  return states as AlertState[];
}

function badRule(path: string, message: string): MeshError {
  return new MeshError('BAD_REQUEST', `invalid alert rule: ${path}: ${message}`, {
    details: [{ path, message }],
  });
}

function ruleNotFound(name: string): MeshError {
  return new MeshError('NOT_FOUND', `no alert rule named "${name}"`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
