import { describe, expect, it } from 'vitest';
import { routeInput, trellisConfig, validate } from '../../../src/config/index.ts';
import { failure, paths } from '../../helpers/mesh-error.ts';

const route = (input: Record<string, unknown>) =>
  validate(routeInput, { name: 'api', service: 'orders', ...input });

describe('route schema', () => {
  it('fills defaults: priority 0, no match (everything), no prefix stripping', () => {
    expect(route({})).toEqual({ name: 'api', service: 'orders', priority: 0, match: {}, stripPrefix: false });
  });

  it('normalizes hosts, methods and header names, and keeps one path match', () => {
    expect(
      route({
        priority: 5,
        match: {
          hosts: ['API.example.com', '*.Example.org'],
          path: { prefix: '/api' },
          methods: ['get', 'POST', 'get'],
          headers: [
            { name: 'X-Canary', exact: '1' },
            { name: 'x-user', regex: '^u[0-9]+$' },
            { name: 'Authorization', present: true },
          ],
        },
        stripPrefix: true,
        rewriteHost: 'orders.internal:8080',
        timeout: { requestMs: '2s' },
        retry: { maxAttempts: 3, retryOn: ['5xx'] },
      }),
    ).toEqual({
      name: 'api',
      service: 'orders',
      priority: 5,
      match: {
        hosts: ['api.example.com', '*.example.org'],
        path: { prefix: '/api' },
        methods: ['GET', 'POST'],
        headers: [
          { name: 'x-canary', exact: '1' },
          { name: 'x-user', regex: '^u[0-9]+$' },
          { name: 'authorization', present: true },
        ],
      },
      stripPrefix: true,
      rewriteHost: 'orders.internal:8080',
      timeout: { requestMs: 2000 },
      retry: { maxAttempts: 3, retryOn: ['5xx'] },
    });
    expect(route({ match: { path: { exact: '/health' } } }).match.path).toEqual({ exact: '/health' });
    expect(route({ match: { path: { regex: '^/v[0-9]+/' } } }).match.path).toEqual({ regex: '^/v[0-9]+/' });
  });

  it('accepts a createdAt (a route read back from the API) and drops it', () => {
    expect(route({ createdAt: 12 })).not.toHaveProperty('createdAt');
  });

  const CASES: Array<[string, Record<string, unknown>]> = [
    ['name', { name: 'a/b' }],
    ['service', { service: '' }],
    ['priority', { priority: 1.5 }],
    ['priority', { priority: 100_000 }],
    ['match.path', { match: { path: {} } }],
    ['match.path', { match: { path: { prefix: '/a', exact: '/b' } } }],
    ['match.path.prefix', { match: { path: { prefix: 'api' } } }],
    ['match.path.exact', { match: { path: { exact: '/a b' } } }],
    ['match.path.regex', { match: { path: { regex: '([a-z' } } }],
    ['match.path.regex', { match: { path: { regex: `^/${'a'.repeat(1000)}` } } }],
    ['match.path.regex', { match: { path: { regex: '' } } }],
    ['match.hosts.0', { match: { hosts: ['api.example.com:8080'] } }],
    ['match.hosts', { match: { hosts: [] } }],
    ['match.methods.0', { match: { methods: ['GET POST'] } }],
    ['match.headers.0', { match: { headers: [{ name: 'x-a' }] } }],
    ['match.headers.0', { match: { headers: [{ name: 'x-a', exact: '1', present: true }] } }],
    ['match.headers.0.name', { match: { headers: [{ name: 'x a', present: true }] } }],
    ['match.headers.0.regex', { match: { headers: [{ name: 'x-a', regex: '(' }] } }],
    ['match.colour', { match: { colour: 'red' } }],
    ['stripPrefix', { stripPrefix: true }],
    ['stripPrefix', { stripPrefix: true, match: { path: { exact: '/a' } } }],
    ['rewriteHost', { rewriteHost: 'bad host' }],
    ['timeout.requestMs', { timeout: { requestMs: 'later' } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 0 } }],
    ['retry.budget', { retry: { budget: { ratio: 0.1 } } }],
    ['retry.backoffBaseMs', { retry: { backoffBaseMs: '2s', backoffMaxMs: '1s' } }],
  ];

  it.each(CASES)('rejects a bad %s, naming it', (path, input) => {
    expect(paths(failure(() => route(input)))).toEqual([path]);
  });

  it('refuses regular expressions longer than 1,000 characters and says why', () => {
    const error = failure(() => route({ match: { headers: [{ name: 'x', regex: 'a'.repeat(1001) }] } }));
    expect(error.message).toBe('invalid input: match.headers.0.regex: a pattern is at most 1000 characters');
    expect(route({ match: { path: { regex: 'a'.repeat(1000) } } }).match.path).toEqual({
      regex: 'a'.repeat(1000),
    });
  });
});

describe('routes in trellis.yaml', () => {
  it('takes a top-level routes list and refuses duplicate names', () => {
    const config = validate(trellisConfig, {
      routes: [{ name: 'api', service: 'orders', match: { path: { prefix: '/api' } } }],
    });
    expect(config.routes).toEqual([
      {
        name: 'api',
        service: 'orders',
        priority: 0,
        match: { path: { prefix: '/api' } },
        stripPrefix: false,
      },
    ]);
    expect(validate(trellisConfig, {}).routes).toEqual([]);
    const error = failure(() =>
      validate(trellisConfig, {
        routes: [
          { name: 'api', service: 'a' },
          { name: 'api', service: 'b' },
        ],
      }),
    );
    expect(paths(error)).toEqual(['routes.1.name']);
    expect(
      paths(
        failure(() => validate(trellisConfig, { routes: [{ name: 'x', service: 'a', priority: 'hi' }] })),
      ),
    ).toEqual(['routes.0.priority']);
  });
});
