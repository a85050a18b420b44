import { describe, expect, it } from 'vitest';
import type { Route } from '../../../../src/core/index.ts';
import { httpRouteOf } from '../../../../src/proxy/listeners/gateway.ts';

const route = (match: Route['match']): Route => ({
  name: 'r',
  match,
  service: 's',
  stripPrefix: false,
  priority: 0,
  createdAt: 0,
});

describe("a gateway route's http.route", () => {
  it('is the path template of its match: exact as is, a prefix as its subtree', () => {
    expect(httpRouteOf(route({ path: { exact: '/health' } }))).toBe('/health');
    expect(httpRouteOf(route({ path: { prefix: '/api' } }))).toBe('/api/*');
    expect(httpRouteOf(route({ path: { prefix: '/api/' } }))).toBe('/api/*');
    expect(httpRouteOf(route({ path: { prefix: '/' } }))).toBe('/*');
  });

  it('is absent for a regex or a match without a path, which have no template', () => {
    expect(httpRouteOf(route({ path: { regex: '^/v[0-9]+/' } }))).toBeUndefined();
    expect(httpRouteOf(route({ methods: ['GET'] }))).toBeUndefined();
  });
});
