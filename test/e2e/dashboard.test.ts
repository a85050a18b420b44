/**
 * The dashboard in Chromium against a real `trellis start` (child process) with real services behind
 * real `trellis proxy` sidecars and real traffic through the gateway: client → gateway → sidecar(dash-web)
 * → app dash-web → sidecar(dash-web) outbound → sidecar(dash-stock) → app dash-stock. Every page loads
 * without console errors and shows what the test created; screenshots go to test-results/.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers/control.ts';
import { freePort } from '../helpers/ports.ts';
import { startTrellis, stopChild, type TrellisStart } from '../helpers/processes.ts';
import { ensureDashboardBuilt, launchChromium, openPage, screenshot } from './dashboard-browser.ts';
import {
  eventually,
  kill,
  type Running,
  send,
  spawnTrellis,
  startApp,
  type TestApp,
} from './sidecar-helpers.ts';

const BROKEN_RULE = 'dash-broken-down';

/** What the test reads of the cytoscape instance the graph's container holds. */
interface CyNodes {
  getElementById(id: string): { renderedPosition(): { x: number; y: number } };
}

describe('the dashboard in a real browser', { timeout: 120_000 }, () => {
  let cwd: string;
  let control: TrellisStart;
  let base: string;
  let gatewayPort: number;
  let browser: Browser;
  let stock: TestApp;
  let web: Server;
  const sidecars: Running[] = [];
  const agent = new Agent({ keepAlive: true });

  /** dash-web's app: each request calls dash-stock through its own outbound sidecar, trace context passed on. */
  function startWebApp(outboundPort: number): Promise<number> {
    web = createServer((req, res) => {
      req.resume();
      if (req.url === '/health') {
        res.end('ok');
        return;
      }
      const headers: Record<string, string> = { host: 'dash-stock' };
      if (typeof req.headers.traceparent === 'string') headers.traceparent = req.headers.traceparent;
      const outgoing = request(
        { host: '127.0.0.1', port: outboundPort, path: '/stock', headers, agent },
        (answer) => {
          answer.resume();
          answer.on('end', () => {
            res.writeHead(answer.statusCode === 200 ? 200 : 502, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ web: true, stock: answer.statusCode }));
          });
        },
      );
      outgoing.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      outgoing.end();
    });
    return new Promise((resolve) =>
      web.listen(0, '127.0.0.1', () => resolve((web.address() as { port: number }).port)),
    );
  }

  function sidecar(service: string, appPort: number, inbound: number, outbound: number): Running {
    const child = spawnTrellis(
      [
        'proxy',
        ...['--service', service, '--app', `127.0.0.1:${appPort}`],
        ...['--inbound-port', String(inbound), '--outbound-port', String(outbound)],
        ...['--control', control.controlUrl, '--check-interval', '200ms', '--log-level', 'warn'],
        ...['--zone', 'zone-a', '--version', '2.1.0'],
      ],
      cwd,
    );
    sidecars.push(child);
    return child;
  }

  beforeAll(async () => {
    ensureDashboardBuilt();
    cwd = await mkdtemp(join(tmpdir(), 'trellis-dashboard-'));
    await writeFile(join(cwd, 'trellis.yaml'), 'alerts:\n  evaluationInterval: 300ms\n');
    gatewayPort = await freePort();
    control = await startTrellis(
      [
        ...['--config', join(cwd, 'trellis.yaml'), '--data-dir', join(cwd, 'data')],
        ...['--port', String(await freePort()), '--gateway-port', String(gatewayPort), '--log-level', 'warn'],
      ],
      { cwd },
    );
    base = control.controlUrl;
    browser = await launchChromium();

    stock = await startApp('dash-stock');
    const ports = { webIn: await freePort(), webOut: await freePort(), stockIn: await freePort() };
    const webPort = await startWebApp(ports.webOut);
    const stockSidecar = sidecar('dash-stock', stock.port, ports.stockIn, await freePort());
    const webSidecar = sidecar('dash-web', webPort, ports.webIn, ports.webOut);
    await Promise.all([
      stockSidecar.waitFor('trellis sidecar for'),
      webSidecar.waitFor('trellis sidecar for'),
    ]);

    expect(
      (
        await call(base, 'PUT', '/api/v1/routes/dash', {
          service: 'dash-web',
          match: { path: { prefix: '/' } },
        })
      ).status,
    ).toBe(201);
    // Real traffic through the gateway until the whole chain answers, then some more.
    await eventually(async () => (await send(gatewayPort, { path: '/shop' })).status === 200, 30_000, 200);
    for (let i = 0; i < 20; i++) expect((await send(gatewayPort, { path: `/shop/${i}` })).status).toBe(200);

    // A failing instance and a rule on it: the alert the Alerts page must show.
    const closedPort = await freePort();
    const broken = await call(base, 'POST', '/api/v1/instances', {
      service: 'dash-broken',
      address: '127.0.0.1',
      port: closedPort,
      check: { tcp: true, interval: '200ms', timeout: '200ms', failuresBeforeUnhealthy: 1 },
    });
    expect(broken.status).toBe(201);
    const rule = await call(base, 'PUT', `/api/v1/alerts/rules/${BROKEN_RULE}`, {
      metric: 'unhealthyInstances',
      service: 'dash-broken',
      op: '>',
      threshold: 0,
      severity: 'critical',
      description: 'dash-broken has an unhealthy instance',
    });
    expect(rule.status).toBe(201);

    // What the pages will show, first confirmed through the API.
    await eventually(async () => {
      const topology = (await call(base, 'GET', '/api/v1/topology?window=5m')).body;
      return topology.edges.some(
        (edge: { source: string; target: string }) =>
          edge.source === 'dash-web' && edge.target === 'dash-stock',
      );
    }, 20_000);
    await eventually(
      async () => (await call(base, 'GET', '/api/v1/traces?service=dash-stock')).body.total > 0,
      20_000,
    );
    await eventually(async () => {
      const alerts = (await call(base, 'GET', '/api/v1/alerts?state=firing')).body;
      return alerts.alerts.some((alert: { rule: string }) => alert.rule === BROKEN_RULE);
    }, 20_000);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all(sidecars.map((child) => kill(child)));
    if (control) await stopChild(control);
    await stock?.stop();
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
    agent.destroy();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  async function visit(hash: string): Promise<{ page: Page; errors: string[] }> {
    const opened = await openPage(browser);
    await opened.page.goto(`${base}/${hash}`);
    await opened.page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    return opened;
  }

  it('serves the built dashboard at / and for unknown non-API paths; the APIs stay JSON', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    const html = await index.text();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${base}/${script}`);
    expect(asset.headers.get('content-type')).toMatch(/text\/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await (await fetch(`${base}/services/anything`)).text()).toBe(html);
    const api = await fetch(`${base}/api/v1/nothing-here`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('Overview: counts, charts and the firing alert', async () => {
    const { page, errors } = await visit('#/overview');
    await page.locator('tr[data-alert="dash-broken-down"][data-state="firing"]').waitFor();
    await expect
      .poll(() => page.locator('.card', { hasText: 'unhealthy instances' }).innerText())
      .toMatch(/^1/);
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'overview');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('Services: every service with its instances, health, zone, version and breaker state', async () => {
    const { page, errors } = await visit('#/services');
    const webCard = page.locator('article[data-service="dash-web"]');
    await webCard.waitFor();
    await expect.poll(() => webCard.innerText()).toContain('healthy');
    const text = await webCard.innerText();
    expect(text).toContain('zone-a');
    expect(text).toContain('2.1.0');
    // The control plane's gateway has a cluster for the route's service: its breaker is shown.
    expect(text).toContain('closed');
    expect(await page.locator('article[data-service="dash-broken"]').innerText()).toContain('unhealthy');
    await screenshot(page, 'services');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('Topology: the edge the traffic caused, and a service opens from it', async () => {
    const { page, errors } = await visit('#/topology');
    const edge = page.locator('tr[data-edge="dash-web>dash-stock"]');
    await edge.waitFor();
    expect(Number(await edge.locator('td').nth(3).innerText())).toBeGreaterThan(0);
    expect(await page.locator('[data-testid="topology-graph"] canvas').count()).toBeGreaterThan(0);
    await screenshot(page, 'topology');
    // A click on the graph's node (at the position cytoscape drew it) opens the service.
    const graph = page.locator('[data-testid="topology-graph"]');
    const at = await graph.evaluate((element: unknown) => {
      const { cy } = (element as { _cyreg: { cy: CyNodes } })._cyreg;
      return cy.getElementById('dash-stock').renderedPosition();
    });
    await graph.click({ position: at });
    await page.getByRole('heading', { name: 'dash-stock', level: 1 }).waitFor();
    await page.goBack();
    await edge.getByRole('link', { name: 'dash-web' }).click();
    await page.getByRole('heading', { name: 'dash-web', level: 1 }).waitFor();
    // The service page lists dash-stock among its callees.
    await page.getByRole('heading', { name: 'Callees' }).waitFor();
    await expect.poll(() => page.locator('.two-columns').innerText()).toContain('dash-stock');
    await screenshot(page, 'service');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('Traces: a search finds the trace, whose waterfall shows the spans and routing decisions', async () => {
    const { page, errors } = await visit('#/traces');
    await page.getByLabel('Service').fill('dash-stock');
    await page.getByLabel('Status').selectOption('ok');
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator('tr[data-trace]').first();
    await row.waitFor();
    expect(await row.innerText()).toContain('dash-stock');
    await screenshot(page, 'traces');
    await row.getByRole('link').click();
    const spans = page.locator('.waterfall li');
    await spans.first().waitFor();
    expect(await spans.count()).toBeGreaterThanOrEqual(3);
    const waterfall = await page.locator('.waterfall').innerText();
    expect(waterfall).toContain('dash-web');
    expect(waterfall).toContain('dash-stock');
    // Open every span: the routing attributes and the attempt events are there.
    for (const button of await page.locator('.span-row').all()) await button.click();
    await expect.poll(() => page.locator('tr.routing').count()).toBeGreaterThan(0);
    expect(await page.locator('.span-details').first().innerText()).toContain('trellis.');
    await screenshot(page, 'trace');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('Alerts: the firing alert and its rule', async () => {
    const { page, errors } = await visit('#/alerts');
    const alert = page.locator(`tr[data-alert="${BROKEN_RULE}"]`);
    await alert.waitFor();
    expect(await alert.getAttribute('data-state')).toBe('firing');
    expect(await page.locator(`tr[data-rule="${BROKEN_RULE}"]`).innerText()).toContain(
      'unhealthyInstances > 0',
    );
    await screenshot(page, 'alerts');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('Configuration: a policy edit takes effect; a bad one is refused, shown with its field, and changes nothing', async () => {
    const { page, errors } = await visit('#/config?service=dash-stock');
    const form = page.getByRole('form', { name: 'Policy of dash-stock' });
    await form.waitFor();
    await form.getByLabel('Balancer').selectOption('round-robin');
    await form.getByLabel('Max attempts').fill('3');
    await form.getByLabel(/Request timeout/).fill('4s');
    await form.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy saved.').waitFor();
    const saved = (await call(base, 'GET', '/api/v1/services/dash-stock/policy')).body;
    expect(saved.loadBalancer.kind).toBe('round-robin');
    expect(saved.retry.maxAttempts).toBe(3);
    expect(saved.timeout.requestMs).toBe(4000);

    await form.getByLabel('Max attempts').fill('99');
    await form.getByRole('button', { name: 'Save policy' }).click();
    const refusal = page.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.innerText()).toContain('BAD_REQUEST');
    expect(await refusal.locator('.field-path').allInnerTexts()).toContain('retry.maxAttempts');
    expect((await call(base, 'GET', '/api/v1/services/dash-stock/policy')).body).toEqual(saved);
    await screenshot(page, 'config');
    // The browser logs the refused request itself; nothing else may be logged.
    expect(errors.filter((text) => !/status of 400/.test(text))).toEqual([]);
    await page.context().close();
  });

  it('Configuration: a route edited as JSON is saved through the API', async () => {
    const { page, errors } = await visit('#/config');
    await page.getByRole('button', { name: 'Edit dash' }).click();
    const editor = page.getByLabel('Route dash as JSON');
    const route = JSON.parse(await editor.inputValue()) as Record<string, unknown>;
    await editor.fill(JSON.stringify({ ...route, priority: 7 }));
    await page.getByRole('button', { name: 'Save route' }).click();
    await page.getByText('Route dash saved.').waitFor();
    expect((await call(base, 'GET', '/api/v1/routes/dash')).body.priority).toBe(7);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('the dashboard with an admin token', { timeout: 60_000 }, () => {
  const TOKEN = 'dashboard-test-token-0123456789';
  let cwd: string;
  let control: TrellisStart;
  let browser: Browser;

  beforeAll(async () => {
    ensureDashboardBuilt();
    cwd = await mkdtemp(join(tmpdir(), 'trellis-dashboard-token-'));
    control = await startTrellis(
      [
        ...['--data-dir', join(cwd, 'data'), '--port', String(await freePort()), '--no-gateway'],
        ...['--admin-token', TOKEN, '--log-level', 'warn'],
      ],
      { cwd },
    );
    await call(
      control.controlUrl,
      'POST',
      '/api/v1/services',
      { name: 'behind-token' },
      {
        authorization: `Bearer ${TOKEN}`,
      },
    );
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    if (control) await stopChild(control);
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('asks for the token, refuses a wrong one, and works once given the right one', async () => {
    const { page, errors } = await openPage(browser);
    await page.goto(`${control.controlUrl}/#/services`);
    const dialog = page.getByRole('dialog', { name: 'Admin token required' });
    await dialog.waitFor();
    await screenshot(page, 'token');
    await dialog.getByLabel('Token', { exact: true }).fill('not-the-token');
    await dialog.getByRole('button', { name: 'Save token' }).click();
    await dialog.getByText('The token was refused').waitFor();
    await dialog.getByLabel('Token', { exact: true }).fill(TOKEN);
    await dialog.getByRole('button', { name: 'Save token' }).click();
    await page.locator('article[data-service="behind-token"]').waitFor();
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    expect(await dialog.count()).toBe(0);
    expect(await page.evaluate("sessionStorage.getItem('trellis.adminToken')")).toBe(TOKEN);
    // Only the browser's own log of the refused requests.
    expect(errors.filter((text) => !/status of 401/.test(text))).toEqual([]);
    await page.context().close();
  });
});
