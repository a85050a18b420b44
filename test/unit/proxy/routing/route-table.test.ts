import { describe, expect, it } from 'vitest';
import type { Route } from '../../../../src/core/index.ts';
import { createRequestParser, type RequestHead } from '../../../../src/proxy/http1/index.ts';
import {
  compileRoutes,
  headerValues,
  stripPrefix,
  underPrefix,
} from '../../../../src/proxy/routing/index.ts';

function route(name: string, match: Route['match'], extra: Partial<Route> = {}): Route {
  return { name, priority: 0, match, service: name, stripPrefix: false, createdAt: 0, ...extra };
}

type Fields = Record<string, string> | Array<[string, string]>;

/** A request head parsed by the proxy's own parser, with these header fields (repeats as pairs). */
function headers(fields: Fields = {}): RequestHead {
  const lines = (Array.isArray(fields) ? fields : Object.entries(fields)).map(([n, v]) => `${n}: ${v}\r\n`);
  const parser = createRequestParser();
  const raw = Buffer.from(`GET / HTTP/1.1\r\nhost: t\r\n${lines.join('')}\r\n`, 'latin1');
  expect(parser.execute(raw, 0)).toBe(raw.length);
  return parser;
}

function matcher(routes: Route[]) {
  const { table, errors } = compileRoutes(routes, (r) => r.name);
  return {
    errors,
    match: (target: string, options: { method?: string; host?: string; headers?: Fields } = {}) =>
      table.match(options.method ?? 'GET', options.host, target, headers(options.headers))?.data,
  };
}

describe('route table', () => {
  it('prefers exact over prefix, longer prefixes over shorter, and ignores the query', () => {
    const m = matcher([
      route('root', { path: { prefix: '/' } }),
      route('api', { path: { prefix: '/api' } }),
      route('api-v1', { path: { prefix: '/api/v1' } }),
      route('health', { path: { exact: '/api/health' } }),
    ]);
    expect(m.match('/api/health')).toBe('health');
    expect(m.match('/api/health?verbose=1')).toBe('health');
    expect(m.match('/api/v1/users')).toBe('api-v1');
    expect(m.match('/api/v2/users')).toBe('api');
    expect(m.match('/api')).toBe('api');
    expect(m.match('/apiary')).toBe('root');
    expect(m.match('/')).toBe('root');
  });

  it('lets priority beat path length, and regexes win only by precedence', () => {
    const m = matcher([
      route('prefix', { path: { prefix: '/files' } }),
      route('images', { path: { regex: '/files/.*\\.(png|jpg)' } }, { priority: 1 }),
      route('low-regex', { path: { regex: '/files/.*' } }, { priority: -1 }),
    ]);
    expect(m.match('/files/a.png')).toBe('images');
    expect(m.match('/files/a.txt')).toBe('prefix');
  });

  it('anchors regexes to the whole path', () => {
    const m = matcher([route('users', { path: { regex: '/users/[0-9]+' } })]);
    expect(m.match('/users/12')).toBe('users');
    expect(m.match('/users/12/orders')).toBeUndefined();
    expect(m.match('/x/users/12')).toBeUndefined();
  });

  it('breaks ties by the longer path, then by name', () => {
    const m = matcher([route('b', { path: { prefix: '/a' } }), route('a', { path: { prefix: '/a' } })]);
    expect(m.match('/a/x')).toBe('a');
  });

  it('matches exact hosts, then wildcards (longest suffix first), then any host', () => {
    const m = matcher([
      route('any', { path: { prefix: '/' } }),
      route('wild', { hosts: ['*.example.com'] }),
      route('deep-wild', { hosts: ['*.eu.example.com'] }),
      route('exact', { hosts: ['www.example.com'], path: { prefix: '/shop' } }),
    ]);
    expect(m.match('/shop/x', { host: 'www.example.com' })).toBe('exact');
    // The exact host's group has no match for /blog: the wildcard group is next.
    expect(m.match('/blog', { host: 'www.example.com' })).toBe('wild');
    expect(m.match('/', { host: 'shop.eu.example.com' })).toBe('deep-wild');
    expect(m.match('/', { host: 'example.com' })).toBe('any');
    expect(m.match('/', { host: undefined })).toBe('any');
  });

  it('matches methods and headers (exact, regex, present, absent)', () => {
    const m = matcher([
      route('post', { path: { exact: '/x' }, methods: ['post'] }),
      route('beta', { path: { exact: '/x' }, headers: [{ name: 'X-Beta', exact: '1' }] }, { priority: 1 }),
      route('agent', { path: { exact: '/x' }, headers: [{ name: 'user-agent', regex: 'curl/.*' }] }),
      route('no-auth', { path: { exact: '/y' }, headers: [{ name: 'authorization', present: false }] }),
      route('auth', { path: { exact: '/y' }, headers: [{ name: 'authorization', present: true }] }),
    ]);
    expect(m.match('/x', { method: 'POST' })).toBe('post');
    expect(m.match('/x', { method: 'GET', headers: { 'x-beta': '1' } })).toBe('beta');
    expect(m.match('/x', { method: 'GET', headers: { 'user-agent': 'curl/8.0' } })).toBe('agent');
    expect(m.match('/x', { method: 'GET', headers: { 'user-agent': 'wget' } })).toBeUndefined();
    expect(m.match('/y')).toBe('no-auth');
    expect(m.match('/y', { headers: { authorization: 'Bearer x' } })).toBe('auth');
  });

  it('matches a repeated header by all its values joined with "," (as Envoy); present by any', () => {
    const m = matcher([
      route('both', { path: { exact: '/x' }, headers: [{ name: 'x-tag', exact: 'a,b' }] }, { priority: 2 }),
      route('canary', { path: { exact: '/x' }, headers: [{ name: 'x-tag', regex: '(.*,)?canary(,.*)?' }] }),
      route('auth', { path: { exact: '/y' }, headers: [{ name: 'authorization', present: true }] }),
    ]);
    expect(
      m.match('/x', {
        headers: [
          ['X-Tag', 'a'],
          ['x-other', 'z'],
          ['x-tag', 'b'],
        ],
      }),
    ).toBe('both');
    expect(
      m.match('/x', {
        headers: [
          ['x-tag', 'stable'],
          ['X-TAG', 'canary'],
        ],
      }),
    ).toBe('canary');
    expect(m.match('/x', { headers: { 'x-tag': 'canary' } })).toBe('canary');
    expect(m.match('/x', { headers: [['x-tag', 'a']] })).toBeUndefined();
    expect(
      m.match('/y', {
        headers: [
          ['x', '1'],
          ['Authorization', ''],
        ],
      }),
    ).toBe('auth');
  });

  it('reads header values in place: one value as sent, several joined, names of any case', () => {
    const head = headers([
      ['X-Tag', ' a '],
      ['x-tags', 'no'],
      ['x-TAG', 'b c'],
      ['x-tag', ''],
    ]);
    expect(headerValues(head, 'x-tag')).toBe('a,b c,');
    expect(headerValues(head, 'x-tags')).toBe('no');
    expect(headerValues(head, 'x-ta')).toBeUndefined();
  });

  it('leaves out a route with a bad regex and reports it', () => {
    const m = matcher([route('bad', { path: { regex: '([' } }), route('good', { path: { prefix: '/' } })]);
    expect(m.errors).toEqual([{ route: 'bad', message: expect.any(String) }]);
    expect(m.match('/x')).toBe('good');
  });

  it('exposes the prefix to strip', () => {
    const { table } = compileRoutes(
      [
        route('api', { path: { prefix: '/api' } }, { stripPrefix: true }),
        route('x', { path: { exact: '/x' } }, { stripPrefix: true }),
      ],
      (r) => r.name,
    );
    expect(table.match('GET', undefined, '/api/a', headers())?.strip).toBe('/api');
    expect(table.match('GET', undefined, '/x', headers())?.strip).toBeNull();
  });
});

describe('prefix helpers', () => {
  it('underPrefix matches whole segments', () => {
    expect(underPrefix('/api', '/api')).toBe(true);
    expect(underPrefix('/api/x', '/api')).toBe(true);
    expect(underPrefix('/apix', '/api')).toBe(false);
    expect(underPrefix('/api/x', '/api/')).toBe(true);
    expect(underPrefix('/anything', '/')).toBe(true);
  });

  it('stripPrefix keeps a leading slash and the query', () => {
    expect(stripPrefix('/api/items?x=1', '/api')).toBe('/items?x=1');
    expect(stripPrefix('/api', '/api')).toBe('/');
    expect(stripPrefix('/api?x=1', '/api')).toBe('/?x=1');
    expect(stripPrefix('/api/items', '/api/')).toBe('/items');
    expect(stripPrefix('/items', '/')).toBe('/items');
  });
});
