/** Webhook delivery of alert notifications to a real HTTP server on 127.0.0.1. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffCeiling, type Clock, systemClock } from '../../src/core/index.ts';
import type { Alert } from '../../src/telemetry/alerts.ts';
import {
  createWebhookNotifier,
  type WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookPayload,
} from '../../src/telemetry/alerts-webhook.ts';
import { eventually } from '../helpers/control.ts';

const logger = pino({ level: 'silent' });
const TIMEOUT_MS = 5_000;

interface Receiver {
  url: string;
  /** Parsed bodies, in arrival order. */
  received: WebhookPayload[];
  headers: IncomingMessage['headers'][];
  close(): Promise<void>;
}

/** `answer` decides each request's fate: a status, or `hold` to leave it unanswered. */
async function startReceiver(answer: (index: number) => number | 'hold'): Promise<Receiver> {
  const received: WebhookPayload[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const index = received.length;
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      headers.push(req.headers);
      const status = answer(index);
      if (status === 'hold') held.push(res);
      else res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The real clock, remembering every delay asked for (the back-off waits among them). */
function recordingClock(): Clock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => systemClock.now(),
    setTimeout(fn, ms) {
      delays.push(ms);
      return systemClock.setTimeout(fn, ms);
    },
    clearTimeout: (handle) => systemClock.clearTimeout(handle),
  };
}

function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'orders-down@1700000000000',
    rule: 'orders-down',
    metric: 'unhealthyInstances',
    service: 'orders',
    op: '>',
    threshold: 0,
    severity: 'critical',
    description: 'orders has unhealthy instances',
    state: 'firing',
    value: 2,
    activeAt: 1_700_000_000_000,
    firedAt: 1_700_000_001_000,
    evaluatedAt: 1_700_000_001_000,
    ...overrides,
  };
}

/** Polls every 10 ms until `probe` holds (the shared poller). */
async function until(probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  await eventually(probe, timeoutMs, 10);
}

describe('alert webhook', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup.length = 0;
  });

  async function setup(
    answer: (index: number) => number | 'hold',
    options: Partial<WebhookNotifierOptions> = {},
  ): Promise<{ receiver: Receiver; notifier: WebhookNotifier; clock: ReturnType<typeof recordingClock> }> {
    const receiver = await startReceiver(answer);
    const clock = recordingClock();
    const notifier = createWebhookNotifier({
      url: receiver.url,
      clock,
      logger,
      timeoutMs: TIMEOUT_MS,
      backoffBaseMs: 20,
      backoffMaxMs: 80,
      externalUrl: 'http://127.0.0.1:7400',
      ...options,
    });
    cleanup.push(() => receiver.close());
    cleanup.push(() => notifier.close());
    return { receiver, notifier, clock };
  }

  it('POSTs an Alertmanager-style payload', async () => {
    const { receiver, notifier } = await setup(() => 200);
    notifier.notify([
      alert(),
      alert({
        id: 'mesh-errors@1',
        rule: 'mesh-errors',
        metric: 'errorRate',
        service: undefined,
        description: undefined,
        threshold: 0.05,
        windowMs: 60_000,
        severity: 'warning',
        state: 'resolved',
        value: 0.01,
        firedAt: 1_700_000_000_000,
        resolvedAt: 1_700_000_060_000,
        resolution: 'recovered',
      }),
    ]);
    await notifier.idle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.headers[0]!['content-type']).toBe('application/json');
    const payload = receiver.received[0]!;
    expect(payload).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'trellis',
      truncatedAlerts: 0,
      externalURL: 'http://127.0.0.1:7400',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
    });
    expect(typeof payload.groupKey).toBe('string');
    const [firing, resolved] = payload.alerts;
    expect(firing).toEqual({
      status: 'firing',
      labels: {
        alertname: 'orders-down',
        severity: 'critical',
        metric: 'unhealthyInstances',
        service: 'orders',
      },
      annotations: {
        summary: 'unhealthyInstances of orders > 0 (value 2)',
        description: 'orders has unhealthy instances',
      },
      startsAt: '2023-11-14T22:13:21.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://127.0.0.1:7400/api/v1/alerts?rule=orders-down',
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      value: 2,
    });
    expect(resolved).toMatchObject({
      status: 'resolved',
      labels: { alertname: 'mesh-errors', severity: 'warning', metric: 'errorRate' },
      startsAt: '2023-11-14T22:13:20.000Z',
      endsAt: '2023-11-14T22:14:20.000Z',
      value: 0.01,
    });
    expect(resolved!.labels.service).toBeUndefined();
    expect(notifier.stats()).toMatchObject({ delivered: 1, failed: 0, retried: 0, dropped: 0, queued: 0 });

    // The same labels give the same fingerprint in the resolved notification.
    notifier.notify([alert({ state: 'resolved', resolvedAt: 1_700_000_009_000 })]);
    await notifier.idle();
    expect(receiver.received[1]!.status).toBe('resolved');
    expect(receiver.received[1]!.alerts[0]!.fingerprint).toBe(firing!.fingerprint);
    expect(receiver.received[1]!.commonLabels).toEqual(firing!.labels);
  });

  it('sends the configured headers with every delivery', async () => {
    const { receiver, notifier } = await setup(() => 200, {
      headers: { Authorization: 'Bearer receiver-secret', 'X-Scope-OrgID': 'team-a' },
    });
    notifier.notify([alert()]);
    await notifier.idle();
    expect(receiver.headers[0]).toMatchObject({
      authorization: 'Bearer receiver-secret',
      'x-scope-orgid': 'team-a',
      'content-type': 'application/json',
      'user-agent': 'trellis-alerts',
    });
  });

  it('retries after 500s with exponential back-off, then delivers', async () => {
    const { receiver, notifier, clock } = await setup((index) =>
      index < 3 ? (index === 2 ? 503 : 500) : 200,
    );
    notifier.notify([alert()]);
    await notifier.idle();
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received.every((payload) => payload.alerts[0]!.labels.alertname === 'orders-down')).toBe(
      true,
    );
    expect(notifier.stats()).toMatchObject({ delivered: 1, retried: 3, failed: 0 });
    const waits = clock.delays.filter((ms) => ms !== TIMEOUT_MS);
    expect(waits).toHaveLength(3);
    waits.forEach((ms, index) => {
      const ceiling = backoffCeiling(20, 80, index + 1);
      expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
      expect(ms).toBeLessThanOrEqual(ceiling);
    });
  });

  it('gives up after maxRetries, every wait bounded by the cap', async () => {
    const { receiver, notifier, clock } = await setup(() => 500, { maxRetries: 6 });
    notifier.notify([alert()]);
    await notifier.idle();
    expect(receiver.received).toHaveLength(7);
    expect(notifier.stats()).toMatchObject({ delivered: 0, retried: 6, failed: 1 });
    const waits = clock.delays.filter((ms) => ms !== TIMEOUT_MS);
    expect(waits).toHaveLength(6);
    expect(Math.max(...waits)).toBeLessThanOrEqual(80);
    // Doubling up to the cap: the last waits are at the cap's half or more.
    expect(waits.slice(3).every((ms) => ms >= 40)).toBe(true);
  });

  it('does not retry a final answer such as 400', async () => {
    const { receiver, notifier } = await setup(() => 400);
    notifier.notify([alert()]);
    await notifier.idle();
    expect(receiver.received).toHaveLength(1);
    expect(notifier.stats()).toMatchObject({ delivered: 0, failed: 1, retried: 0 });
  });

  it('retries an attempt that times out', async () => {
    const { receiver, notifier } = await setup((index) => (index === 0 ? 'hold' : 200), {
      timeoutMs: 200,
      maxRetries: 2,
    });
    notifier.notify([alert()]);
    await notifier.idle();
    expect(receiver.received).toHaveLength(2);
    expect(notifier.stats()).toMatchObject({ delivered: 1, retried: 1 });
  });

  it('never blocks the caller; the queue is bounded and drops the oldest', async () => {
    let release = false;
    const { receiver, notifier } = await setup((index) => (index === 0 && !release ? 'hold' : 200), {
      maxQueue: 2,
      timeoutMs: 300,
      maxRetries: 3,
    });
    for (let n = 1; n <= 5; n++) notifier.notify([alert({ rule: `rule-${n}` })]);
    // notify returned before anything reached the receiver.
    expect(receiver.received).toHaveLength(0);
    expect(notifier.stats()).toMatchObject({ queued: 2, dropped: 2 });
    await until(() => receiver.received.length === 1);
    release = true;
    await notifier.idle();
    const names = receiver.received.map((payload) => payload.alerts[0]!.labels.alertname);
    // rule-1 was in flight (held, timed out, retried); rule-2 and rule-3 were dropped.
    expect(names).toEqual(['rule-1', 'rule-1', 'rule-4', 'rule-5']);
    expect(notifier.stats()).toMatchObject({ delivered: 3, dropped: 2, queued: 0 });
  });

  it('close() aborts the attempt in flight and drops what is queued', async () => {
    const { receiver, notifier } = await setup(() => 'hold');
    notifier.notify([alert({ rule: 'a' })]);
    notifier.notify([alert({ rule: 'b' })]);
    await until(() => receiver.received.length === 1);
    await notifier.close();
    expect(notifier.stats()).toMatchObject({ delivered: 0, dropped: 1, queued: 0 });
    notifier.notify([alert({ rule: 'c' })]);
    expect(notifier.stats().queued).toBe(0);
  });
});
