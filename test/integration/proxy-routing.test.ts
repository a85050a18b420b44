import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../../src/core/index.ts';
import {
  createInboundListener,
  type ProxyListener,
  type StaticSource,
  type TrellisProxy,
} from '../../src/proxy/index.ts';
import { closeAll, createTestProxy, silentLogger, startTestGateway } from '../helpers/proxy-harness.ts';
import {
  echo,
  eventually,
  instance,
  parseResponses,
  rawExchange,
  request,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

function route(name: string, service: string, match: Route['match'], extra: Partial<Route> = {}): Route {
  return { name, priority: 0, match, service, stripPrefix: false, createdAt: 0, ...extra };
}

async function seen(port: number, method: string, path: string, headers: Record<string, string> = {}) {
  const response = await request(port, method, path, { headers });
  if (response.status !== 200) return { status: response.status, code: response.headers['x-trellis-error'] };
  const body = JSON.parse(response.body);
  return {
    status: 200,
    name: body.name as string,
    url: body.url as string,
    host: body.headers.host as string,
    headers: body.headers,
  };
}

describe('gateway routing', () => {
  const upstreams: Upstream[] = [];
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let source: StaticSource;

  beforeAll(async () => {
    const names = ['api', 'admin', 'users', 'static', 'wild', 'exact-host', 'beta', 'any', 'post-only', 'v2'];
    for (const name of names) upstreams.push(await startUpstream(echo(name)));
    const routes: Route[] = [
      route('api', 'api', { path: { prefix: '/api' } }, { stripPrefix: true }),
      route('admin', 'admin', { path: { exact: '/api/admin' } }),
      route('users', 'users', { path: { regex: '/users/[0-9]+' } }, { rewriteHost: 'users.internal' }),
      route('static', 'static', { path: { prefix: '/static/' } }, { stripPrefix: true }),
      route('wild', 'wild', { hosts: ['*.example.com'], path: { prefix: '/' } }),
      route('exact-host', 'exact-host', { hosts: ['shop.example.com'], path: { prefix: '/' } }),
      route(
        'beta',
        'beta',
        { path: { prefix: '/feature' }, headers: [{ name: 'x-beta', exact: 'yes' }] },
        { priority: 10 },
      ),
      route('any', 'any', { path: { prefix: '/feature' } }),
      route('post-only', 'post-only', { path: { exact: '/submit' }, methods: ['POST'] }),
      route('v2', 'v2', { path: { regex: '/v[0-9]+/.*' } }, { priority: 5 }),
    ];
    ({ proxy, source, gateway } = await startTestGateway({
      instances: names.map((name, i) => instance(name, upstreams[i].port)),
      routes,
    }));
  });

  afterAll(() => closeAll(proxy, ...upstreams));

  it('matches exact paths before prefixes, and strips the prefix', async () => {
    expect(await seen(gateway.port, 'GET', '/api/admin')).toMatchObject({ name: 'admin', url: '/api/admin' });
    expect(await seen(gateway.port, 'GET', '/api/items?q=1')).toMatchObject({
      name: 'api',
      url: '/items?q=1',
    });
    expect(await seen(gateway.port, 'GET', '/api')).toMatchObject({ name: 'api', url: '/' });
    expect(await seen(gateway.port, 'GET', '/static/css/site.css')).toMatchObject({
      name: 'static',
      url: '/css/site.css',
    });
  });

  it('matches prefixes by path segment', async () => {
    expect(await seen(gateway.port, 'GET', '/apix')).toEqual({ status: 404, code: 'NO_ROUTE' });
  });

  it('matches regexes over the whole path and rewrites the host', async () => {
    const user = await seen(gateway.port, 'GET', '/users/42', { host: 'gw.local' });
    expect(user).toMatchObject({ name: 'users', url: '/users/42', host: 'users.internal' });
    expect(user.headers['x-forwarded-host']).toBe('gw.local');
    expect(await seen(gateway.port, 'GET', '/users/abc')).toEqual({ status: 404, code: 'NO_ROUTE' });
    expect(await seen(gateway.port, 'GET', '/v3/anything')).toMatchObject({ name: 'v2' });
  });

  it('matches exact hosts before wildcard hosts before any host', async () => {
    expect(await seen(gateway.port, 'GET', '/x', { host: 'shop.example.com' })).toMatchObject({
      name: 'exact-host',
    });
    expect(await seen(gateway.port, 'GET', '/x', { host: 'Blog.Example.com:8080' })).toMatchObject({
      name: 'wild',
    });
    expect(await seen(gateway.port, 'GET', '/api/y', { host: 'a.b.example.com' })).toMatchObject({
      name: 'wild',
    });
    expect(await seen(gateway.port, 'GET', '/api/y', { host: 'example.com' })).toMatchObject({ name: 'api' });
  });

  it('matches headers and methods, by priority', async () => {
    expect(await seen(gateway.port, 'GET', '/feature/a', { 'x-beta': 'yes' })).toMatchObject({
      name: 'beta',
    });
    expect(await seen(gateway.port, 'GET', '/feature/a', { 'x-beta': 'no' })).toMatchObject({ name: 'any' });
    expect(await seen(gateway.port, 'POST', '/submit')).toMatchObject({ name: 'post-only' });
    expect(await seen(gateway.port, 'GET', '/submit')).toEqual({ status: 404, code: 'NO_ROUTE' });
  });

  it('answers NO_ROUTE as JSON and keeps the connection open', async () => {
    const raw = await rawExchange(
      gateway.port,
      'GET /nowhere HTTP/1.1\r\nhost: t\r\n\r\nGET /api/ok HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n',
    );
    const [missing, ok] = parseResponses(raw);
    expect(missing.status).toBe(404);
    expect(missing.headers['x-trellis-error']).toBe('NO_ROUTE');
    expect(missing.headers['content-type']).toBe('application/json');
    expect(JSON.parse(missing.body)).toEqual({
      error: { code: 'NO_ROUTE', message: 'no route matches the request', details: [] },
    });
    expect(ok.status).toBe(200);
  });

  it('routes an absolute-form target by its authority', async () => {
    const response = await request(gateway.port, 'GET', 'http://shop.example.com/cart');
    expect(JSON.parse(response.body)).toMatchObject({ name: 'exact-host', url: '/cart' });
  });

  it('applies route changes at runtime', async () => {
    source.update({
      routes: [route('only', 'any', { path: { exact: '/only' } })],
    });
    await eventually(async () => (await seen(gateway.port, 'GET', '/only')).name === 'any');
    expect(await seen(gateway.port, 'GET', '/api/admin')).toEqual({ status: 404, code: 'NO_ROUTE' });
  });

  it('answers NO_HEALTHY_UPSTREAM for a routed service without instances', async () => {
    source.update({ routes: [route('ghost', 'ghost', { path: { prefix: '/' } })] });
    await eventually(async () => (await seen(gateway.port, 'GET', '/x')).code === 'NO_HEALTHY_UPSTREAM');
    const response = await request(gateway.port, 'GET', '/x');
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body).error.code).toBe('NO_HEALTHY_UPSTREAM');
  });
});

describe('gateway routing: precedence and path normalisation', () => {
  const upstreams: Upstream[] = [];
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    const names = ['items', 'shop-regex', 'api', 'internal', 'public', 'admin'];
    for (const name of names) upstreams.push(await startUpstream(echo(name)));
    ({ proxy, gateway } = await startTestGateway({
      instances: names.map((name, i) => instance(name, upstreams[i].port)),
      routes: [
        route('items', 'items', { path: { prefix: '/shop/items' } }),
        route('shop-regex', 'shop-regex', { path: { regex: '/shop/.*' } }),
        route('api', 'api', { path: { prefix: '/api' } }, { stripPrefix: true }),
        route('internal', 'internal', { path: { prefix: '/api/internal' } }),
        route('public', 'public', { path: { prefix: '/public' } }),
        route('admin', 'admin', {
          path: { prefix: '/admin' },
          headers: [{ name: 'x-admin', present: true }],
        }),
      ],
    }));
  });

  afterAll(() => closeAll(proxy, ...upstreams));

  it('breaks a priority tie by the length of the path match as written, regexes too', async () => {
    // `/shop/items` (11 characters) is longer than `/shop/.*` (8): the prefix wins the tie.
    expect(await seen(gateway.port, 'GET', '/shop/items/5')).toMatchObject({ name: 'items' });
    expect(await seen(gateway.port, 'GET', '/shop/cart')).toMatchObject({ name: 'shop-regex' });
  });

  it('matches and forwards the path with dot segments removed', async () => {
    // Without normalisation these reach `api` with a path its server may resolve to /internal/…,
    // bypassing the more specific route.
    expect(await seen(gateway.port, 'GET', '/api/public/../internal/users?q=../x')).toMatchObject({
      name: 'internal',
      url: '/api/internal/users?q=../x',
    });
    expect(await seen(gateway.port, 'GET', '/api/./public/%2E%2e/internal/users')).toMatchObject({
      name: 'internal',
      url: '/api/internal/users',
    });
    expect(await seen(gateway.port, 'GET', '/api/items/../orders/')).toMatchObject({
      name: 'api',
      url: '/orders/',
    });
    // A route with a condition cannot be reached through another route's prefix.
    expect(await seen(gateway.port, 'GET', '/public/../admin/users')).toEqual({
      status: 404,
      code: 'NO_ROUTE',
    });
    expect(await seen(gateway.port, 'GET', '/public/../admin/users', { 'x-admin': '1' })).toMatchObject({
      name: 'admin',
      url: '/admin/users',
    });
    expect(await seen(gateway.port, 'GET', '/../../public/x')).toMatchObject({
      name: 'public',
      url: '/public/x',
    });
  });

  it('decodes percent-encoded unreserved characters before matching, and keeps reserved ones', async () => {
    expect(await seen(gateway.port, 'GET', '/api/%69nternal/users')).toMatchObject({
      name: 'internal',
      url: '/api/internal/users',
    });
    // %2F stays encoded (a slash inside a segment), and so does the query.
    expect(await seen(gateway.port, 'GET', '/api/a%2fb/%7euser?x=%69')).toMatchObject({
      name: 'api',
      url: '/a%2fb/~user?x=%69',
    });
  });
});

describe('sidecar listeners', () => {
  let orders: Upstream;
  let app: Upstream;
  let proxy: TrellisProxy;
  let outbound: ProxyListener;

  beforeAll(async () => {
    orders = await startUpstream(echo('orders'));
    app = await startUpstream(echo('app'));
    ({ proxy } = createTestProxy({ instances: [instance('orders', orders.port)] }));
    outbound = await proxy.outbound({ port: 0 });
  });

  afterAll(() => closeAll(proxy, orders, app));

  it('outbound: addresses a service by an absolute-form target (HTTP_PROXY)', async () => {
    const response = await request(outbound.port, 'GET', 'http://orders/items?id=7', {
      headers: { host: 'orders' },
    });
    expect(JSON.parse(response.body)).toMatchObject({ name: 'orders', url: '/items?id=7' });
  });

  it('outbound: addresses a service by the Host header, with or without a port', async () => {
    expect(await seen(outbound.port, 'GET', '/items', { host: 'orders' })).toMatchObject({
      name: 'orders',
      url: '/items',
    });
    expect(await seen(outbound.port, 'GET', '/items', { host: 'orders:7481' })).toMatchObject({
      name: 'orders',
      host: 'orders:7481',
    });
  });

  it('outbound: rewrites Dapr-style invocation paths', async () => {
    expect(
      await seen(outbound.port, 'POST', '/v1.0/invoke/orders/method/items/9?x=1', { host: '127.0.0.1' }),
    ).toMatchObject({ name: 'orders', url: '/items/9?x=1' });
  });

  it('outbound: a malformed Dapr-style path is NOT_FOUND, as on the control plane, not sent on by Host', async () => {
    for (const path of ['/v1.0/invoke/orders/items', '/v1.0/invoke/orders', '/v1.0/invoke//method/x']) {
      expect(await seen(outbound.port, 'GET', path, { host: 'orders' })).toEqual({
        status: 404,
        code: 'NOT_FOUND',
      });
    }
    // The connection stays usable, and the same Host still reaches the service.
    expect(await seen(outbound.port, 'GET', '/v1.0/other', { host: 'orders' })).toMatchObject({
      name: 'orders',
      url: '/v1.0/other',
    });
  });

  it('outbound: an unknown service is NO_HEALTHY_UPSTREAM', async () => {
    expect(await seen(outbound.port, 'GET', '/', { host: 'nobody' })).toEqual({
      status: 503,
      code: 'NO_HEALTHY_UPSTREAM',
    });
  });

  it('outbound: keeps x-forwarded-proto from the app', async () => {
    const got = await seen(outbound.port, 'GET', '/', { host: 'orders', 'x-forwarded-proto': 'https' });
    expect(got.headers['x-forwarded-proto']).toBe('https');
  });

  it('inbound: forwards everything to the local app', async () => {
    const inbound = await proxy.inbound({
      port: 0,
      app: { address: '127.0.0.1', port: app.port },
      service: 'app',
    });
    try {
      expect(await seen(inbound.port, 'GET', '/anything', { host: 'whatever' })).toMatchObject({
        name: 'app',
        url: '/anything',
        host: 'whatever',
      });
      const posted = await request(inbound.port, 'PUT', '/thing', { body: 'payload' });
      expect(JSON.parse(posted.body)).toMatchObject({ name: 'app', method: 'PUT', body: 'payload' });
    } finally {
      await inbound.close();
    }
  });

  it('inbound: standalone, answers 502 when the app is down', async () => {
    const down = await startUpstream(echo('down'));
    const port = down.port;
    await down.close();
    const inbound = await createInboundListener({
      port: 0,
      app: { address: '127.0.0.1', port },
      logger: silentLogger(),
    });
    try {
      const response = await request(inbound.port, 'GET', '/');
      expect(response.status).toBe(502);
      expect(response.headers['x-trellis-error']).toBe('UPSTREAM_CONNECT_FAILED');
    } finally {
      await inbound.close();
    }
  });
});

/** One request with header lines as given (repeats allowed), to a listener; what the echo upstream saw. */
async function seenRaw(port: number, path: string, lines: Array<[string, string]>) {
  const head = lines.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const [response] = parseResponses(
    await rawExchange(port, `GET ${path} HTTP/1.1\r\n${head}connection: close\r\n\r\n`),
  );
  if (response?.status !== 200)
    return { status: response?.status, code: response?.headers['x-trellis-error'] };
  const body = JSON.parse(response.body);
  return { status: 200, name: body.name as string, url: body.url as string, host: body.headers.host };
}

describe('names as DNS has them, and repeated headers as Envoy reads them', () => {
  const upstreams: Upstream[] = [];
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let outbound: ProxyListener;
  let source: StaticSource;
  const names = ['Billing', 'dup', 'Dup', 'orders', 'flags', 'LATE'];
  const instances = () => names.map((name, i) => instance(name, upstreams[i]!.port));

  beforeAll(async () => {
    for (const name of names) upstreams.push(await startUpstream(echo(name)));
    ({ proxy, source, gateway } = await startTestGateway({
      // LATE registers later, in a test.
      instances: instances().filter((i) => i.service !== 'LATE'),
      routes: [
        route('shop', 'orders', { hosts: ['shop.example.com'], path: { prefix: '/' } }),
        route('wild', 'dup', { hosts: ['*.example.com'], path: { prefix: '/' } }),
        route(
          'canary',
          'flags',
          { path: { prefix: '/flags' }, headers: [{ name: 'x-flags', regex: '(.*,)?canary(,.*)?' }] },
          { priority: 1 },
        ),
        route('stable', 'orders', { path: { prefix: '/flags' } }),
        route('both', 'flags', { path: { exact: '/both' }, headers: [{ name: 'x-tag', exact: 'a,b' }] }),
        route('billing', 'billing', { path: { prefix: '/billing' } }),
        route('late', 'late', { path: { prefix: '/late' } }),
      ],
    }));
    outbound = await proxy.outbound({ port: 0 });
  });

  afterAll(() => closeAll(proxy, ...upstreams));

  it('outbound: a service registered as Billing is reached as Billing, billing or BILLING, in every form', async () => {
    for (const host of ['Billing', 'billing', 'BILLING:7481']) {
      expect(await seen(outbound.port, 'GET', '/x', { host })).toMatchObject({ name: 'Billing', host });
    }
    const proxied = await request(outbound.port, 'GET', 'http://BILLING/items', { headers: { host: 'x' } });
    expect(JSON.parse(proxied.body)).toMatchObject({ name: 'Billing', url: '/items' });
    for (const service of ['billing', 'BILLING', 'Billing']) {
      expect(await seen(outbound.port, 'GET', `/v1.0/invoke/${service}/method/x`)).toMatchObject({
        name: 'Billing',
        url: '/x',
      });
    }
  });

  it('outbound: the name as written wins, then the lowercase one among names differing in case', async () => {
    expect(await seen(outbound.port, 'GET', '/', { host: 'Dup' })).toMatchObject({ name: 'Dup' });
    expect(await seen(outbound.port, 'GET', '/', { host: 'dup' })).toMatchObject({ name: 'dup' });
    expect(await seen(outbound.port, 'GET', '/', { host: 'DUP' })).toMatchObject({ name: 'dup' });
    expect(await seen(outbound.port, 'GET', '/', { host: 'nobody' })).toEqual({
      status: 503,
      code: 'NO_HEALTHY_UPSTREAM',
    });
  });

  it('outbound: a trailing dot (an absolute DNS name) addresses the same service', async () => {
    expect(await seen(outbound.port, 'GET', '/a', { host: 'orders.' })).toMatchObject({ name: 'orders' });
    expect(await seen(outbound.port, 'GET', '/a', { host: 'Orders.:7481' })).toMatchObject({
      name: 'orders',
      host: 'Orders.:7481',
    });
    const proxied = await request(outbound.port, 'GET', 'http://orders./items', { headers: { host: 'x' } });
    expect(JSON.parse(proxied.body)).toMatchObject({ name: 'orders', url: '/items' });
    expect(await seen(outbound.port, 'GET', '/v1.0/invoke/ORDERS./method/d', { host: 'x' })).toMatchObject({
      name: 'orders',
      url: '/d',
    });
  });

  it('gateway: matches hosts without their trailing dot', async () => {
    expect(await seen(gateway.port, 'GET', '/x', { host: 'shop.example.com.' })).toMatchObject({
      name: 'orders',
    });
    expect(await seen(gateway.port, 'GET', '/x', { host: 'Shop.Example.COM.:7480' })).toMatchObject({
      name: 'orders',
    });
    expect(await seen(gateway.port, 'GET', '/x', { host: 'blog.example.com.' })).toMatchObject({
      name: 'dup',
    });
    const proxied = await request(gateway.port, 'GET', 'http://shop.example.com./cart');
    expect(JSON.parse(proxied.body)).toMatchObject({ name: 'orders', url: '/cart' });
  });

  it('gateway: matches a repeated header by all its values joined with ","', async () => {
    const host: [string, string] = ['host', 'gw'];
    expect(
      await seenRaw(gateway.port, '/flags', [host, ['x-flags', 'stable'], ['X-Flags', 'canary']]),
    ).toMatchObject({
      name: 'flags',
    });
    expect(await seenRaw(gateway.port, '/flags', [host, ['x-flags', 'stable']])).toMatchObject({
      name: 'orders',
    });
    expect(
      await seenRaw(gateway.port, '/both', [host, ['x-tag', 'a'], ['accept', '*/*'], ['x-tag', 'b']]),
    ).toMatchObject({
      name: 'flags',
    });
    expect(await seenRaw(gateway.port, '/both', [host, ['x-tag', 'a']])).toEqual({
      status: 404,
      code: 'NO_ROUTE',
    });
  });

  it("gateway: a route's service resolves case-insensitively, also when it registers later", async () => {
    expect(await seen(gateway.port, 'GET', '/billing/1')).toMatchObject({
      name: 'Billing',
      url: '/billing/1',
    });
    expect(await seen(gateway.port, 'GET', '/late')).toEqual({ status: 503, code: 'NO_HEALTHY_UPSTREAM' });
    source.update({ instances: instances() });
    await eventually(async () => (await seen(gateway.port, 'GET', '/late')).name === 'LATE');
  });
});
