/**
 * Issue 4's proof, with real processes: `trellis start` (control plane and its gateway) and two apps,
 * each behind a real `trellis proxy` sidecar. A request goes
 *
 *   client → gateway → sidecar A inbound → app A → sidecar A outbound → sidecar B inbound → app B
 *
 * and app A forwards the trace headers it received, as an instrumented app does. Hops that make spans
 * (one per hop; app A and B make none of their own):
 *
 *   1. gateway (service `gateway`, kind server, peer.service a)     parent: the caller's, or none
 *   2. sidecar A inbound (service `a`, kind server)                 parent: 1
 *   3. sidecar A outbound (service `a`, kind client, peer.service b) parent: 2 (through app A)
 *   4. sidecar B inbound (service `b`, kind server)                 parent: 3
 *
 * Then: request counters and duration histograms on both sidecars' /metrics and the control plane's,
 * the trace with those parent links found by search, a continued incoming traceparent, the topology
 * edges gateway → a and a → b, an error-rate alert on b that fires and resolves, and access log lines
 * carrying the trace id.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../helpers/exposition.ts';
import { freePort } from '../helpers/ports.ts';
import { eventually, kill, type Running, send, spawnTrellis } from './sidecar-helpers.ts';

interface SpanNode {
  traceId: string;
  spanId: string;
  name: string;
  parentSpanId: string | null;
  kind: string;
  service: string;
  status: { code: string };
  attributes: Record<string, unknown>;
  events: Array<{ name: string; attributes: Record<string, unknown> }>;
  children: SpanNode[];
}

interface TraceTree {
  trace: { traceId: string; spanCount: number; services: string[] };
  spans: SpanNode[];
}

const running: Running[] = [];
const servers: Server[] = [];

function listen(server: Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

/** App B: `/hello` answers JSON, or 500 while `failing`; `/health` always answers 200. */
async function startAppB(): Promise<{ port: number; setFailing(failing: boolean): void }> {
  let failing = false;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/health') {
        res.end('ok');
        return;
      }
      res.statusCode = failing ? 500 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ app: 'b', traceparent: req.headers.traceparent ?? null }));
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = await listen(server);
  return { port, setFailing: (value) => (failing = value) };
}

/** App A: `/call` calls b through its outbound sidecar, forwarding traceparent and tracestate. */
async function startAppA(outboundPort: () => number): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/health') {
        res.end('ok');
        return;
      }
      const headers: Record<string, string> = { host: 'b' };
      for (const name of ['traceparent', 'tracestate']) {
        const value = req.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const call = httpRequest(
        { host: '127.0.0.1', port: outboundPort(), path: '/hello', headers, agent: false },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            res.statusCode = answer.statusCode ?? 502;
            res.setHeader('content-type', 'application/json');
            res.end(Buffer.concat(chunks));
          });
        },
      );
      call.on('error', (error) => {
        res.statusCode = 599;
        res.end(String(error));
      });
      call.end();
    });
  });
  return listen(server);
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function scrape(url: string) {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

function flatten(nodes: SpanNode[]): SpanNode[] {
  return nodes.flatMap((node) => [node, ...flatten(node.children)]);
}

describe('observability end to end: gateway and two sidecars', { timeout: 120_000 }, () => {
  let cwd: string;
  let controlUrl: string;
  let gatewayPort: number;
  const ports = { aIn: 0, aOut: 0, bIn: 0, bOut: 0, aMetrics: 0, bMetrics: 0 };
  let appB: Awaited<ReturnType<typeof startAppB>>;
  let accessLogFile: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'trellis-observability-'));
    accessLogFile = join(cwd, 'logs', 'a-access.log');
    const controlPort = await freePort();
    gatewayPort = await freePort();
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    controlUrl = `http://127.0.0.1:${controlPort}`;
    appB = await startAppB();
    const appAPort = await startAppA(() => ports.aOut);

    // Alerts evaluated every 200 ms; the gateway routes /a/... to service a. Calls are never held
    // back by a breaker or an ejection (app A passes b's 500s on), so while b fails every call reaches it.
    await writeFile(
      join(cwd, 'trellis.json'),
      JSON.stringify({
        alerts: { evaluationInterval: '200ms' },
        services: ['a', 'b'].map((name) => ({
          name,
          policy: { circuitBreaker: { enabled: false }, outlierDetection: { enabled: false } },
        })),
        routes: [{ name: 'to-a', service: 'a', match: { path: { prefix: '/a' } }, stripPrefix: true }],
      }),
    );
    const control = spawnTrellis(
      [
        'start',
        '--port',
        String(controlPort),
        '--gateway-port',
        String(gatewayPort),
        '--data-dir',
        join(cwd, 'data'),
        '--config',
        join(cwd, 'trellis.json'),
        '--sample-ratio',
        '1',
        '--log-level',
        'warn',
      ],
      cwd,
    );
    running.push(control);
    await control.waitFor('trellis control plane listening');

    const sidecar = (service: string, app: number, inbound: number, outbound: number, metrics: number) => [
      'proxy',
      '--service',
      service,
      '--app',
      `127.0.0.1:${app}`,
      '--inbound-port',
      String(inbound),
      '--outbound-port',
      String(outbound),
      '--metrics-port',
      String(metrics),
      '--control',
      controlUrl,
      '--check-interval',
      '500ms',
      '--propagation-delay',
      '0ms',
      '--log-level',
      'warn',
    ];
    const sidecarA = spawnTrellis(
      [...sidecar('a', appAPort, ports.aIn, ports.aOut, ports.aMetrics), '--access-log', accessLogFile],
      cwd,
    );
    const sidecarB = spawnTrellis(sidecar('b', appB.port, ports.bIn, ports.bOut, ports.bMetrics), cwd);
    running.push(sidecarA, sidecarB);
    await Promise.all([sidecarA.waitFor('trellis sidecar for a'), sidecarB.waitFor('trellis sidecar for b')]);
    expect(sidecarA.output()).toContain(`metrics:  http://127.0.0.1:${ports.aMetrics}/metrics`);

    // Both instances registered and healthy, and the whole chain answers.
    await eventually(async () => {
      const reply = await send(gatewayPort, { path: '/a/call' });
      return reply.status === 200 && JSON.parse(reply.body).app === 'b';
    }, 30_000);
  }, 90_000);

  afterAll(async () => {
    for (const child of running.reverse()) await kill(child);
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('counts every hop on the sidecars and the control plane, with histograms', async () => {
    const requests = 'trellis_requests_total';
    const durations = 'trellis_request_duration_seconds_count';
    const before = {
      aIn: (await scrape(`http://127.0.0.1:${ports.aMetrics}/metrics`)).sum(requests, {
        service: 'a',
        direction: 'inbound',
        status_class: '2xx',
      }),
      aOut: (await scrape(`http://127.0.0.1:${ports.aMetrics}/metrics`)).sum(requests, {
        service: 'b',
        direction: 'outbound',
        status_class: '2xx',
      }),
      bIn: (await scrape(`http://127.0.0.1:${ports.bMetrics}/metrics`)).sum(requests, {
        service: 'b',
        direction: 'inbound',
        status_class: '2xx',
      }),
      gateway: (await scrape(`${controlUrl}/metrics`)).sum(requests, {
        service: 'a',
        direction: 'gateway',
        status_class: '2xx',
      }),
      // The setup's first calls may have met b before it was healthy: only new failures count.
      aFailed: (await scrape(`http://127.0.0.1:${ports.aMetrics}/metrics`)).sum(requests, {
        status_class: '5xx',
      }),
      bFailed: (await scrape(`http://127.0.0.1:${ports.bMetrics}/metrics`)).sum(requests, {
        status_class: '5xx',
      }),
    };
    const count = 7;
    for (let i = 0; i < count; i++) {
      const reply = await send(gatewayPort, { path: '/a/call' });
      expect(reply.status).toBe(200);
    }
    const a = await scrape(`http://127.0.0.1:${ports.aMetrics}/metrics`);
    const b = await scrape(`http://127.0.0.1:${ports.bMetrics}/metrics`);
    const control = await scrape(`${controlUrl}/metrics`);
    expect(a.sum(requests, { service: 'a', direction: 'inbound', status_class: '2xx' }) - before.aIn).toBe(
      count,
    );
    expect(a.sum(requests, { service: 'b', direction: 'outbound', status_class: '2xx' }) - before.aOut).toBe(
      count,
    );
    expect(b.sum(requests, { service: 'b', direction: 'inbound', status_class: '2xx' }) - before.bIn).toBe(
      count,
    );
    expect(
      control.sum(requests, { service: 'a', direction: 'gateway', status_class: '2xx' }) - before.gateway,
    ).toBe(count);
    // Nothing went wrong anywhere.
    expect(a.sum(requests, { status_class: '5xx' })).toBe(before.aFailed);
    expect(b.sum(requests, { status_class: '5xx' })).toBe(before.bFailed);
    // The histograms count what the counters count.
    expect(a.sum(durations, { service: 'a', direction: 'inbound' })).toBe(
      a.sum(requests, { service: 'a', direction: 'inbound' }),
    );
    expect(b.types.get('trellis_request_duration_seconds')).toBe('histogram');
    // The sidecars' own processes are described too (processMetrics).
    expect(a.find('process_cpu_seconds_total').length).toBe(1);
  });

  it('records one span per hop, linked parent to child, found by searching for b', async () => {
    const reply = await send(gatewayPort, { path: '/a/call?find=me' });
    expect(reply.status).toBe(200);
    // The traceparent app B received is sidecar B's inbound hop's: the trace id runs end to end.
    const traceId = (JSON.parse(reply.body).traceparent as string).split('-')[1]!;
    const tree = await eventually(async () => {
      const found = await getJson<{ traces: Array<{ traceId: string }> }>(
        `${controlUrl}/api/v1/traces?service=b&limit=100`,
      );
      if (!found.traces.some((trace) => trace.traceId === traceId)) return undefined;
      const whole = await getJson<TraceTree>(`${controlUrl}/api/v1/traces/${traceId}`);
      return whole.trace.spanCount >= 4 ? whole : undefined;
    }, 15_000);

    expect(tree.trace.spanCount).toBe(4);
    expect(tree.spans).toHaveLength(1);
    const gateway = tree.spans[0]!;
    // Named by the route's path template (prefix /a), as OpenTelemetry's http.route asks.
    expect(gateway).toMatchObject({
      service: 'gateway',
      kind: 'server',
      parentSpanId: null,
      name: 'GET /a/*',
    });
    expect(gateway.attributes).toMatchObject({
      'peer.service': 'a',
      'trellis.route': 'to-a',
      'http.route': '/a/*',
      'http.response.status_code': 200,
      'url.path': '/a/call',
      'url.query': 'find=me',
    });
    expect(gateway.events.map((event) => event.attributes['trellis.outcome'])).toEqual(['ok']);

    expect(gateway.children).toHaveLength(1);
    const aInbound = gateway.children[0]!;
    expect(aInbound).toMatchObject({ service: 'a', kind: 'server', parentSpanId: gateway.spanId });
    expect(aInbound.attributes['url.path']).toBe('/call');

    expect(aInbound.children).toHaveLength(1);
    const aOutbound = aInbound.children[0]!;
    expect(aOutbound).toMatchObject({ service: 'a', kind: 'client', parentSpanId: aInbound.spanId });
    expect(aOutbound.attributes).toMatchObject({ 'peer.service': 'b', 'server.port': ports.bIn });
    expect(aOutbound.attributes['trellis.endpoint']).toBe(`127.0.0.1:${ports.bIn}`);

    expect(aOutbound.children).toHaveLength(1);
    const bInbound = aOutbound.children[0]!;
    expect(bInbound).toMatchObject({ service: 'b', kind: 'server', parentSpanId: aOutbound.spanId });
    expect(bInbound.children).toHaveLength(0);
    expect(JSON.parse(reply.body).traceparent).toBe(`00-${traceId}-${bInbound.spanId}-01`);
    for (const span of flatten(tree.spans)) {
      expect(span.traceId).toBe(traceId);
      expect(span.status.code).toBe('unset');
    }
  });

  it("continues a caller's traceparent", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const reply = await send(gatewayPort, {
      path: '/a/call',
      headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'vendor=x' },
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body).traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const tree = await eventually(async () => {
      const whole = await getJson<TraceTree>(`${controlUrl}/api/v1/traces/${traceId}`).catch(() => undefined);
      return whole !== undefined && whole.trace.spanCount >= 4 ? whole : undefined;
    }, 15_000);
    // The caller's span is not held here, so the gateway's span is the tree's root, its parent the caller's.
    const gateway = tree.spans[0]!;
    expect(gateway.parentSpanId).toBe(callerSpan);
    expect(flatten(tree.spans).map((span) => span.service)).toEqual(['gateway', 'a', 'a', 'b']);
  });

  it('draws the topology edges gateway → a and a → b from the spans', async () => {
    type Edge = { source: string; target: string; requests: number; failed: number; errorRate: number };
    type Graph = { nodes: Array<{ id: string }>; edges: Edge[] };
    const edge = (graph: Graph, source: string, target: string): Edge =>
      graph.edges.find((found) => found.source === source && found.target === target) ?? {
        source,
        target,
        requests: 0,
        failed: 0,
        errorRate: 0,
      };
    // Spans of the earlier calls may still be on their way: wait until the figures stand still.
    let before = await getJson<Graph>(`${controlUrl}/api/v1/topology?window=5m`);
    await eventually(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const now = await getJson<Graph>(`${controlUrl}/api/v1/topology?window=5m`);
      const still =
        edge(now, 'a', 'b').requests === edge(before, 'a', 'b').requests &&
        edge(now, 'gateway', 'a').requests === edge(before, 'gateway', 'a').requests;
      before = now;
      return still;
    }, 15_000);
    const calls = 5;
    for (let i = 0; i < calls; i++) expect((await send(gatewayPort, { path: '/a/call' })).status).toBe(200);
    const topology = await eventually(async () => {
      const graph = await getJson<Graph>(`${controlUrl}/api/v1/topology?window=5m`);
      return edge(graph, 'a', 'b').requests >= edge(before, 'a', 'b').requests + calls &&
        edge(graph, 'gateway', 'a').requests >= edge(before, 'gateway', 'a').requests + calls
        ? graph
        : undefined;
    }, 15_000);
    const toA = edge(topology, 'gateway', 'a');
    const toB = edge(topology, 'a', 'b');
    expect(toA.requests - edge(before, 'gateway', 'a').requests).toBe(calls);
    expect(toB.requests - edge(before, 'a', 'b').requests).toBe(calls);
    // The setup's first calls may have failed while b was not yet healthy: no new failures.
    expect(toA.failed).toBe(edge(before, 'gateway', 'a').failed);
    expect(toB.failed).toBe(edge(before, 'a', 'b').failed);
    expect(topology.nodes.map((node) => node.id)).toEqual(expect.arrayContaining(['gateway', 'a', 'b']));
    // No edge skips a hop: the gateway never called b.
    expect(topology.edges.some((edge) => edge.source === 'gateway' && edge.target === 'b')).toBe(false);
  });

  it('fires an error-rate alert on b while its app fails, and resolves it when it recovers', async () => {
    const rule = await fetch(`${controlUrl}/api/v1/alerts/rules/b-errors`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        metric: 'errorRate',
        service: 'b',
        op: '>',
        threshold: 0.2,
        window: '2s',
        severity: 'critical',
      }),
    });
    expect(rule.status).toBe(201);
    type Alerts = { alerts: Array<{ rule: string; state: string; firedAt?: number; resolvedAt?: number }> };
    const ruleAlerts = async () =>
      (await getJson<Alerts>(`${controlUrl}/api/v1/alerts?rule=b-errors`)).alerts;

    appB.setFailing(true);
    const firing = await eventually(async () => {
      const reply = await send(gatewayPort, { path: '/a/call' });
      expect(reply.status, reply.body).toBe(500);
      return (await ruleAlerts()).find((alert) => alert.state === 'firing');
    }, 20_000);
    expect(firing.rule).toBe('b-errors');

    // The failing calls are errors on b's spans and on the a → b edge.
    const failing = await getJson<{ traces: Array<{ traceId: string }> }>(
      `${controlUrl}/api/v1/traces?service=b&status=error&limit=1`,
    );
    expect(failing.traces.length).toBe(1);

    appB.setFailing(false);
    const resolved = await eventually(async () => {
      const reply = await send(gatewayPort, { path: '/a/call' });
      expect(reply.status).toBe(200);
      return (await ruleAlerts()).find((alert) => alert.state === 'resolved');
    }, 20_000);
    expect(resolved.rule).toBe('b-errors');
    expect((await ruleAlerts()).some((alert) => alert.state === 'firing')).toBe(false);
  });

  it("writes access log lines that carry each request's trace id", async () => {
    const traceId = 'a3ce929d0e0e47364bf92f3577b34da6';
    const reply = await send(gatewayPort, {
      path: '/a/call?log=1',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(reply.status).toBe(200);
    const lines = await eventually(async () => {
      const text = await readFile(accessLogFile, 'utf8').catch(() => '');
      const mine = text
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.traceId === traceId);
      return mine.length >= 2 ? mine : undefined;
    }, 10_000);
    const inbound = lines.find((line) => line.direction === 'inbound')!;
    const outbound = lines.find((line) => line.direction === 'outbound')!;
    expect(inbound).toMatchObject({
      type: 'access',
      method: 'GET',
      path: '/call?log=1',
      service: 'a',
      status: 200,
      attempts: 1,
      endpoint: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(outbound).toMatchObject({
      service: 'b',
      status: 200,
      endpoint: `127.0.0.1:${ports.bIn}`,
      attempts: 1,
    });
    expect(outbound.bytesOut).toBeGreaterThan(0);
    expect(typeof inbound.durationMs).toBe('number');
    expect(inbound.spanId).toMatch(/^[0-9a-f]{16}$/);
  });
});
