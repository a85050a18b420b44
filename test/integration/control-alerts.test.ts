/** Alerts on a real control plane: the rules API, persistence across a restart, and an alert end to end. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trellisConfig, validate } from '../../src/config/index.ts';
import { type ControlNode, startControlNode } from '../../src/control/index.ts';
import type { WebhookPayload } from '../../src/telemetry/alerts-webhook.ts';
import { call, eventually } from '../helpers/control.ts';

interface AlertControl extends ControlNode {
  dataDir: string;
}

/** A control node on 127.0.0.1:0 (gateway on a free port) with the given `alerts` section. */
async function startAlertControl(alerts: unknown, dataDir?: string): Promise<AlertControl> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'trellis-alerts-')));
  const config = validate(trellisConfig, {
    control: { host: '127.0.0.1', port: 0, dataDir: dir },
    gateway: { port: 0 },
    alerts,
  });
  const node = await startControlNode(config, { logger: pino({ level: 'silent' }) });
  return { ...node, dataDir: dir };
}

/** A real HTTP server whose answer to everything is `status`, changeable at any time. */
async function startSwitchable(): Promise<{
  port: number;
  url: string;
  status: number;
  bodies: string[];
  close(): Promise<void>;
}> {
  const state = { status: 200, bodies: [] as string[] };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      if (body) state.bodies.push(body);
      res.writeHead(state.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

const RULES = '/api/v1/alerts/rules';

describe('control plane: alert rules API', () => {
  let control: AlertControl;
  let base: string;

  beforeAll(async () => {
    control = await startAlertControl({});
    base = control.url;
  });
  afterAll(async () => {
    await control?.close();
    await rm(control.dataDir, { recursive: true, force: true });
  });

  it('creates, replaces, reads, lists and deletes rules', async () => {
    const created = await call(base, 'PUT', `${RULES}/orders-errors`, {
      metric: 'errorRate',
      service: 'orders',
      op: '>',
      threshold: 0.05,
      for: '1m',
      window: '5m',
      severity: 'critical',
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      name: 'orders-errors',
      metric: 'errorRate',
      service: 'orders',
      op: '>',
      threshold: 0.05,
      forMs: 60_000,
      windowMs: 300_000,
      severity: 'critical',
    });
    const replaced = await call(base, 'PUT', `${RULES}/orders-errors`, { ...created.body, threshold: 0.1 });
    expect(replaced.status).toBe(200);
    expect(replaced.body.threshold).toBe(0.1);

    await call(base, 'PUT', `${RULES}/any-down`, { metric: 'unhealthyInstances', op: '>=', threshold: 1 });
    const list = await call(base, 'GET', RULES);
    expect(list.body.rules.map((rule: { name: string }) => rule.name)).toEqual(['any-down', 'orders-errors']);
    expect((await call(base, 'GET', `${RULES}/orders-errors`)).body).toEqual(replaced.body);
    // The evaluator has them too.
    expect(
      control.alerting.evaluator
        .rules()
        .map((rule) => rule.name)
        .sort(),
    ).toEqual(['any-down', 'orders-errors']);

    expect((await call(base, 'DELETE', `${RULES}/any-down`)).body).toEqual({ deleted: true });
    const gone = await call(base, 'GET', `${RULES}/any-down`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('NOT_FOUND');
    expect((await call(base, 'DELETE', `${RULES}/any-down`)).status).toBe(404);
    expect(control.alerting.evaluator.rules().map((rule) => rule.name)).toEqual(['orders-errors']);
  });

  it('refuses bad rules with the path of each bad field, and changes nothing', async () => {
    await call(base, 'PUT', `${RULES}/stable`, { metric: 'openCircuits', op: '>', threshold: 0 });
    const before = (await call(base, 'GET', RULES)).body;
    const revision = (await call(base, 'GET', '/api/v1/snapshot')).body.revision;

    const bad = await call(base, 'PUT', `${RULES}/stable`, {
      metric: 'openCircuits',
      op: 'gt',
      threshold: 'many',
      window: '1m',
      extra: true,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_REQUEST');
    expect(bad.body.error.details.map((detail: { path: string }) => detail.path).sort()).toEqual([
      'extra',
      'op',
      'threshold',
    ]);
    const crossField = await call(base, 'PUT', `${RULES}/stable`, {
      metric: 'openCircuits',
      op: '>',
      threshold: 0,
      window: '1m',
    });
    expect(crossField.status).toBe(400);
    expect(crossField.body.error.details).toEqual([
      { path: 'window', message: 'applies only to errorRate and p99Latency, not openCircuits' },
    ]);
    const mismatch = await call(base, 'PUT', `${RULES}/stable`, {
      name: 'other',
      metric: 'openCircuits',
      op: '>',
      threshold: 0,
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.details).toEqual([
      { path: 'name', message: 'must be "stable" (the name in the path)' },
    ]);
    const badName = await call(base, 'PUT', `${RULES}/-bad-`, {
      metric: 'openCircuits',
      op: '>',
      threshold: 0,
    });
    expect(badName.status).toBe(400);
    expect(badName.body.error.details[0].path).toBe('name');
    const notJson = await call(base, 'PUT', `${RULES}/stable`, '{"metric":');
    expect(notJson.status).toBe(400);

    expect((await call(base, 'GET', RULES)).body).toEqual(before);
    expect((await call(base, 'GET', '/api/v1/snapshot')).body.revision).toBe(revision);
  });

  it('lists alerts, and refuses an unknown state filter', async () => {
    const all = await call(base, 'GET', '/api/v1/alerts');
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ alerts: [], evaluatedAt: expect.any(Number) });
    const bad = await call(base, 'GET', '/api/v1/alerts?state=firing,burning');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([
      {
        path: 'state',
        message: 'expected one or more of pending, firing, resolved (comma-separated), got "burning"',
      },
    ]);
  });
});

describe('control plane: alert rules across a restart', () => {
  let dataDir: string;
  const nodes: ControlNode[] = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps rules set through the API, and applies the rules in trellis.yaml over them', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'trellis-alerts-restart-'));
    const first = await startAlertControl(
      { rules: [{ name: 'from-file', metric: 'openCircuits', op: '>', threshold: 0 }] },
      dataDir,
    );
    nodes.push(first);
    await call(first.url, 'PUT', `${RULES}/from-api`, {
      metric: 'unhealthyInstances',
      op: '>',
      threshold: 2,
    });
    await call(first.url, 'PUT', `${RULES}/from-file`, { metric: 'openCircuits', op: '>', threshold: 5 });
    await first.close();
    nodes.length = 0;

    const second = await startAlertControl(
      { rules: [{ name: 'from-file', metric: 'openCircuits', op: '>', threshold: 1 }] },
      dataDir,
    );
    nodes.push(second);
    const rules = (await call(second.url, 'GET', RULES)).body.rules;
    expect(rules).toEqual([
      {
        name: 'from-api',
        metric: 'unhealthyInstances',
        op: '>',
        threshold: 2,
        forMs: 0,
        severity: 'warning',
      },
      // The file wins over what the API set, as for routes and policies.
      { name: 'from-file', metric: 'openCircuits', op: '>', threshold: 1, forMs: 0, severity: 'warning' },
    ]);
    expect(second.alerting.evaluator.rules()).toHaveLength(2);
  });
});

describe('control plane: an alert end to end', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  it('fires when an HTTP-checked instance starts failing and resolves when it recovers', async () => {
    const app = await startSwitchable();
    cleanup.push(() => app.close());
    const receiver = await startSwitchable();
    cleanup.push(() => receiver.close());
    const control = await startAlertControl({
      evaluationInterval: '100ms',
      rules: [
        {
          name: 'web-down',
          metric: 'unhealthyInstances',
          service: 'web',
          op: '>',
          threshold: 0,
          for: '300ms',
          severity: 'critical',
        },
      ],
      webhook: { url: `${receiver.url}/hook`, timeout: '2s' },
    });
    cleanup.push(async () => {
      await control.close();
      await rm(control.dataDir, { recursive: true, force: true });
    });
    const base = control.url;

    const registered = await call(base, 'POST', '/api/v1/instances', {
      service: 'web',
      address: '127.0.0.1',
      port: app.port,
      check: { http: '/health', interval: '100ms', timeout: '1s', failuresBeforeUnhealthy: 1 },
    });
    expect(registered.status).toBe(201);
    await eventually(
      async () =>
        (await call(base, 'GET', `/api/v1/instances/${registered.body.id}`)).body.health === 'healthy',
    );
    expect((await call(base, 'GET', '/api/v1/alerts')).body.alerts).toEqual([]);

    app.status = 500;
    const firing = await eventually(async () => {
      const { body } = await call(base, 'GET', '/api/v1/alerts?state=firing');
      return body.alerts.length === 1 ? body.alerts[0] : undefined;
    });
    expect(firing).toMatchObject({
      rule: 'web-down',
      metric: 'unhealthyInstances',
      service: 'web',
      severity: 'critical',
      state: 'firing',
      value: 1,
    });
    expect(firing.firedAt - firing.activeAt).toBeGreaterThanOrEqual(300);

    app.status = 200;
    const resolved = await eventually(async () => {
      const { body } = await call(base, 'GET', '/api/v1/alerts?state=resolved');
      return body.alerts.length === 1 ? body.alerts[0] : undefined;
    });
    expect(resolved).toMatchObject({
      id: firing.id,
      state: 'resolved',
      value: 0,
      firedAt: firing.firedAt,
      resolution: 'recovered',
    });
    expect(resolved.resolvedAt).toBeGreaterThan(firing.firedAt);
    expect((await call(base, 'GET', '/api/v1/alerts?state=firing,pending')).body.alerts).toEqual([]);

    // The webhook heard both, in order.
    await eventually(() => receiver.bodies.length >= 2);
    const payloads = receiver.bodies.map((body) => JSON.parse(body) as WebhookPayload);
    expect(payloads.map((payload) => payload.status)).toEqual(['firing', 'resolved']);
    expect(payloads[0]!.alerts[0]!.labels).toEqual({
      alertname: 'web-down',
      severity: 'critical',
      metric: 'unhealthyInstances',
      service: 'web',
    });
    expect(payloads[0]!.externalURL).toBe(base);
    expect(payloads[1]!.alerts[0]!.endsAt).toBe(new Date(resolved.resolvedAt).toISOString());
  });
});

describe('control plane: open circuits in the node gateway', () => {
  it('fires an openCircuits alert once a breaker opens', async () => {
    const control = await startAlertControl({
      evaluationInterval: '100ms',
      rules: [{ name: 'circuits', metric: 'openCircuits', service: 'gone', op: '>', threshold: 0 }],
    });
    try {
      const base = control.url;
      // Nothing listens on the instance's port: every attempt fails to connect.
      const closed = await startSwitchable();
      await closed.close();
      await call(base, 'POST', '/api/v1/instances', {
        service: 'gone',
        address: '127.0.0.1',
        port: closed.port,
      });
      await call(base, 'PUT', '/api/v1/services/gone/policy', {
        circuitBreaker: { consecutiveFailures: 2, recoveryTimeMs: '1h' },
        outlierDetection: { enabled: false },
        retry: { maxAttempts: 1 },
      });
      await call(base, 'POST', '/api/v1/routes', {
        name: 'gone',
        service: 'gone',
        match: { path: { prefix: '/gone' } },
      });
      expect(control.gateway).toBeDefined();

      const statuses: number[] = [];
      await eventually(async () => {
        statuses.push((await fetch(`${control.gateway!.url}/gone`)).status);
        const { body } = await call(base, 'GET', '/api/v1/alerts?state=firing');
        return body.alerts.length === 1;
      });
      expect(statuses.every((status) => status >= 500)).toBe(true);
      const [alert] = (await call(base, 'GET', '/api/v1/alerts')).body.alerts;
      expect(alert).toMatchObject({ rule: 'circuits', metric: 'openCircuits', service: 'gone', value: 1 });
    } finally {
      await control.close();
      await rm(control.dataDir, { recursive: true, force: true });
    }
  });
});
