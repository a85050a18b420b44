/**
 * The forwarding and hop-by-hop headers the proxy writes toward HTTP/1.1 upstreams, on raw sockets:
 * `te: trailers` (RFC 9110 §10.1.4), the forwarding headers an edge must not take from its clients
 * (`forwarded`, `x-forwarded-port`, as `x-forwarded-proto` / `-host`), `x-forwarded-host` for an
 * absolute-form target (RFC 9112 §3.2.2) and `via`'s received protocol (RFC 9110 §7.6.3).
 * proxy-forwarding.test.ts has the basics (x-forwarded-for appended, Connection-nominated fields).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../../src/core/index.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { closeAll, createTestProxy, startTestGateway } from '../helpers/proxy-harness.ts';
import {
  echo,
  instance,
  parseResponses,
  rawExchange,
  request,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

function route(name: string, prefix: string, extra: Partial<Route> = {}): Route {
  return {
    name,
    priority: 0,
    match: { path: { prefix } },
    service: 'web',
    stripPrefix: false,
    createdAt: 0,
    ...extra,
  };
}

/** The request headers the upstream saw. */
async function seenBy(port: number, raw: string): Promise<Record<string, string>> {
  const [response] = parseResponses(await rawExchange(port, raw));
  if (response === undefined) throw new Error('no response');
  return JSON.parse(response.body).headers;
}

describe('forwarding and hop-by-hop headers toward HTTP/1.1 upstreams', () => {
  let upstream: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  let sidecar: TrellisProxy;
  let outbound: ProxyListener;

  beforeAll(async () => {
    upstream = await startUpstream(echo('web'));
    ({ proxy, gateway } = await startTestGateway({
      instances: [instance('web', upstream.port)],
      routes: [route('web', '/'), route('rewrite', '/rewritten', { rewriteHost: 'inside.local' })],
    }));
    sidecar = createTestProxy({ instances: [instance('web', upstream.port)] }).proxy;
    outbound = await sidecar.outbound({ port: 0 });
  });

  afterAll(() => closeAll(proxy, sidecar, upstream));

  it('keeps `te: trailers` (and names it in Connection), drops other TE codings and Proxy-Connection', async () => {
    const seen = await seenBy(
      gateway.port,
      'GET /te HTTP/1.1\r\nhost: t\r\nconnection: close, TE\r\nte: deflate;q=0.5, Trailers\r\n' +
        'proxy-connection: keep-alive\r\n\r\n',
    );
    expect(seen.te).toBe('trailers');
    expect(seen.connection).toMatch(/^keep-alive, te$/i);
    expect(seen['proxy-connection']).toBeUndefined();

    const none = await seenBy(
      gateway.port,
      'GET /te HTTP/1.1\r\nhost: t\r\nte: gzip\r\nconnection: close\r\n\r\n',
    );
    expect(none.te).toBeUndefined();
    expect(none.connection).toBe('keep-alive');
    // TE is HTTP/1.1's: an HTTP/1.0 client gets a chunked response decoded, trailers dropped.
    const old = await seenBy(gateway.port, 'GET /te HTTP/1.0\r\nhost: t\r\nte: trailers\r\n\r\n');
    expect(old.te).toBeUndefined();
  });

  it('gateway: does not pass a client’s forwarded or x-forwarded-port on; a sidecar does', async () => {
    const raw =
      'GET /fwd HTTP/1.1\r\nhost: t\r\nconnection: close\r\nforwarded: for=1.2.3.4;proto=https;host=evil.example\r\n' +
      'x-forwarded-port: 443\r\nx-forwarded-for: 1.2.3.4\r\n\r\n';
    const edge = await seenBy(gateway.port, raw);
    expect(edge.forwarded).toBeUndefined();
    expect(edge['x-forwarded-port']).toBeUndefined();
    expect(edge['x-forwarded-proto']).toBe('http');
    // x-forwarded-for is appended to, as Envoy and nginx do: the last entry is the one the edge vouches for.
    expect(edge['x-forwarded-for']).toBe('1.2.3.4, 127.0.0.1');

    const inside = await seenBy(outbound.port, raw.replace('host: t', 'host: web'));
    expect(inside.forwarded).toBe('for=1.2.3.4;proto=https;host=evil.example');
    expect(inside['x-forwarded-port']).toBe('443');
  });

  it('takes the host of an absolute-form target, not the ignored Host header, as the original host', async () => {
    const plain = await request(gateway.port, 'GET', 'http://shop.example/cart', {
      headers: { host: 'ignored' },
    });
    const seen = JSON.parse(plain.body);
    expect(seen.url).toBe('/cart');
    expect(seen.headers.host).toBe('shop.example');
    // The host the client asked for is the one it gets: nothing was rewritten.
    expect(seen.headers['x-forwarded-host']).toBeUndefined();

    const rewritten = await request(gateway.port, 'GET', 'http://shop.example/rewritten', {
      headers: { host: 'ignored' },
    });
    const headers = JSON.parse(rewritten.body).headers;
    expect(headers.host).toBe('inside.local');
    expect(headers['x-forwarded-host']).toBe('shop.example');
  });

  it('names the protocol it received in via: 1.0 for an HTTP/1.0 request', async () => {
    const old = await seenBy(gateway.port, 'GET /via HTTP/1.0\r\nhost: t\r\n\r\n');
    expect(old.via).toBe('1.0 trellis');
    const current = await seenBy(
      gateway.port,
      'GET /via HTTP/1.1\r\nhost: t\r\nvia: 1.1 edge\r\nconnection: close\r\n\r\n',
    );
    expect(current.via).toBe('1.1 edge, 1.1 trellis');
  });
});
