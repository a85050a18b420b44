import { Response } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEADLINE_HEADER, isMeshError } from '../../src/core/index.ts';
import type { Mesh } from '../../src/index.ts';
import { eventually, type TestControl } from '../helpers/control.ts';
import { answerLate, type SdkTestMesh, startSdkMesh } from '../helpers/sdk-mesh.ts';
import type { App } from './sdk-apps.ts';

describe('SDK: mesh.fetch through real sockets', () => {
  let sdk: SdkTestMesh;
  let node: TestControl;
  let mesh: Mesh;
  const web: App[] = [];

  beforeAll(async () => {
    sdk = await startSdkMesh();
    ({ node, mesh } = sdk);
    for (const name of ['web-1', 'web-2', 'web-3']) web.push(await sdk.instance('web', { name }));
    await sdk.instance('slow', { handler: answerLate(3_000) });
    await sdk.instance('empty', {
      handler: (request, res) => {
        res.statusCode = request.url === '/204' ? 204 : 200;
        res.setHeader('x-app', 'empty');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(request.url === '/204' ? undefined : 'body');
      },
    });
    await eventually(
      () =>
        ['web', 'slow', 'empty'].every((service) =>
          mesh.instances(service).every((instance) => instance.health === 'healthy'),
        ) && mesh.instances('web').length === 3,
      10_000,
    );
  });

  afterAll(() => sdk?.close());

  function servedBy(): Record<string, number> {
    return Object.fromEntries(web.map((app) => [app.name, app.requests.length]));
  }

  it('spreads concurrent calls over the three instances with the default (ewma) balancer', async () => {
    const before = servedBy();
    const seen: Record<string, number> = {};
    // ewma weighs each instance's latency by its requests in flight, so a burst spreads out. (Calls
    // one at a time may stay with the fastest instances for a while: that is the point of ewma.)
    for (let round = 0; round < 3; round++) {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => mesh.fetch('web', `/spread/${round}/${i}`)),
      );
      for (const response of responses) {
        expect(response.status).toBe(200);
        const { app } = (await response.json()) as { app: string };
        seen[app] = (seen[app] ?? 0) + 1;
      }
    }
    const after = servedBy();
    for (const app of web) {
      expect(seen[app.name]).toBeGreaterThanOrEqual(5);
      expect(after[app.name] - before[app.name]).toBe(seen[app.name]);
    }
  });

  it('sends the deadline from the timeout, honours an earlier incoming one, and passes traceparent through', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const before = Date.now();
    const first = (await (
      await mesh.fetch('web', '/deadline', { timeout: '5s', headers: { traceparent, tracestate: 'k=v' } })
    ).json()) as { headers: Record<string, string> };
    const deadline = Number(first.headers[DEADLINE_HEADER]);
    expect(deadline).toBeGreaterThanOrEqual(before + 5_000);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(first.headers.traceparent).toBe(traceparent);
    expect(first.headers.tracestate).toBe('k=v');

    // An incoming deadline earlier than the local timeout is forwarded as it is…
    const incoming = String(Date.now() + 2_000);
    const second = (await (
      await mesh.fetch('web', '/deadline', { timeout: '10s', headers: { [DEADLINE_HEADER]: incoming } })
    ).json()) as { headers: Record<string, string> };
    expect(second.headers[DEADLINE_HEADER]).toBe(incoming);

    // …and one already past fails the call without sending it.
    const count = web.reduce((sum, app) => sum + app.requests.length, 0);
    await expect(
      mesh.fetch('web', '/deadline', { headers: { [DEADLINE_HEADER]: String(Date.now() - 10) } }),
    ).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
    expect(web.reduce((sum, app) => sum + app.requests.length, 0)).toBe(count);
  });

  it('sends bodies and methods, and answers like fetch: status, headers, text, json, a body stream', async () => {
    const text = await mesh.fetch('web', '/post', { method: 'post', body: 'hello' });
    const echoed = (await text.json()) as { method: string; body: string; headers: Record<string, string> };
    expect(echoed).toMatchObject({ method: 'POST', body: 'hello' });
    expect(echoed.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect(echoed.headers['content-length']).toBe('5');

    const json = await mesh.fetch('web', '/json', {
      method: 'PUT',
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify({ a: 1 })),
    });
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(await json.json()).toMatchObject({ method: 'PUT', body: '{"a":1}' });

    const form = (await (
      await mesh.fetch('web', '/form', { method: 'POST', body: new URLSearchParams({ q: 'a b' }) })
    ).json()) as { body: string; headers: Record<string, string> };
    expect(form.body).toBe('q=a+b');
    expect(form.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');

    const streamed = await mesh.fetch('empty', '/stream');
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('x-app')).toBe('empty');
    expect(streamed.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const chunks: Uint8Array[] = [];
    for await (const chunk of streamed.body!) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('body');

    const noContent = await mesh.fetch('empty', '/204');
    expect(noContent.status).toBe(204);
    expect(noContent.body).toBeNull();
    const head = await mesh.fetch('empty', '/head', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');

    // A path without its slash gets one; a URL is refused.
    expect(((await (await mesh.fetch('web', 'relative')).json()) as { url: string }).url).toBe('/relative');
    // Service names resolve case-insensitively, as in the proxies (`Host: Orders`).
    const upper = await mesh.fetch('EMPTY', '/upper');
    expect(upper.status).toBe(200);
    expect(upper.headers.get('x-app')).toBe('empty');
    await upper.text();
    await expect(mesh.fetch('web', 'http://web/x')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('fails with UPSTREAM_TIMEOUT when the upstream is slower than the timeout', async () => {
    const started = Date.now();
    const error = await mesh.fetch('slow', '/', { timeout: 300 }).catch((caught: unknown) => caught);
    expect(isMeshError(error) && error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('rejects with the reason when the caller aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    setTimeout(() => controller.abort(reason), 100);
    await expect(mesh.fetch('slow', '/', { signal: controller.signal })).rejects.toBe(reason);
    await expect(mesh.fetch('slow', '/', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('fails with NO_HEALTHY_UPSTREAM for a service without instances', async () => {
    await expect(mesh.fetch('nobody', '/')).rejects.toMatchObject({
      code: 'NO_HEALTHY_UPSTREAM',
      status: 503,
    });
  });

  it('runs interceptors once per call: requests and responses can be seen and changed, errors recovered', async () => {
    const order: string[] = [];
    const first = mesh.interceptors.request.use((request) => {
      order.push('request-1');
      request.headers.set('x-user', 'alice');
      return { ...request, path: `/rewritten${request.path}` };
    });
    const second = mesh.interceptors.request.use(async (request) => {
      order.push(`request-2 ${request.path}`);
      request.headers.set('authorization', 'Bearer t');
    });
    const third = mesh.interceptors.response.use(async (response, request) => {
      order.push(`response ${response.status} ${request.path}`);
      const body = (await response.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, intercepted: true }), {
        status: response.status,
        headers: { 'content-type': 'application/json', 'x-intercepted': '1' },
      });
    });
    const fourth = mesh.interceptors.response.use(
      (response) => response,
      (error, request) => {
        order.push(`error ${isMeshError(error) ? error.code : 'other'} ${request.service}`);
        return new Response('fallback', { status: 503 });
      },
    );
    try {
      const response = await mesh.fetch('web', '/items');
      expect(response.headers.get('x-intercepted')).toBe('1');
      const body = (await response.json()) as {
        url: string;
        intercepted: boolean;
        headers: Record<string, string>;
      };
      expect(body).toMatchObject({ url: '/rewritten/items', intercepted: true });
      expect(body.headers).toMatchObject({ 'x-user': 'alice', authorization: 'Bearer t' });

      const recovered = await mesh.fetch('nobody', '/');
      expect(recovered.status).toBe(503);
      expect(await recovered.text()).toBe('fallback');
      expect(order).toEqual([
        'request-1',
        'request-2 /rewritten/items',
        'response 200 /rewritten/items',
        'request-1',
        'request-2 /rewritten/',
        'error NO_HEALTHY_UPSTREAM nobody',
      ]);
    } finally {
      for (const id of [first, second]) mesh.interceptors.request.eject(id);
      for (const id of [third, fourth]) mesh.interceptors.response.eject(id);
    }
    const plain = await mesh.fetch('web', '/plain');
    expect(plain.headers.get('x-intercepted')).toBeNull();
  });

  it('keeps serving from the last-known view when the control plane is gone', async () => {
    await node.close();
    await eventually(() => !mesh.connected(), 5_000);
    for (let i = 0; i < 9; i++) {
      const response = await mesh.fetch('web', '/static-stability');
      expect(response.status).toBe(200);
      await response.text();
    }
    // Registrations cannot be removed now; close() must still finish.
    expect(mesh.instances('web')).toHaveLength(3);
  });
});
