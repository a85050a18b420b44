import { describe, expect, it } from 'vitest';
import { registryKeys } from '../../../src/registry/keys.ts';

describe('registry keys', () => {
  const keys = registryKeys('/t/');

  it('lays out services, instances and heartbeats under the prefix', () => {
    expect(keys.service('web')).toBe('/t/services/web');
    expect(keys.instance('web', 'web-1')).toBe('/t/instances/web/web-1');
    expect(keys.heartbeat('web', 'web-1')).toBe('/t/heartbeats/web/web-1');
    expect(registryKeys('/x').service('a')).toBe('/x/services/a');
  });

  it('lays out policies and routes, and parses them back', () => {
    expect(keys.policy('web')).toBe('/t/policies/web');
    expect(keys.route('api-v1')).toBe('/t/routes/api-v1');
    expect(keys.parse('/t/policies/web')).toEqual({ kind: 'policy', service: 'web' });
    expect(keys.parse('/t/routes/api-v1')).toEqual({ kind: 'route', name: 'api-v1' });
    expect(keys.parse('/t/policies/')).toBeUndefined();
    expect(keys.parse('/t/routes/a/b')).toBeUndefined();
  });

  it('parses its own keys back and ignores others', () => {
    expect(keys.parse('/t/services/web')).toEqual({ kind: 'service', name: 'web' });
    expect(keys.parse('/t/instances/web/web-10.0.0.1-80')).toEqual({
      kind: 'instance',
      service: 'web',
      id: 'web-10.0.0.1-80',
    });
    expect(keys.parse('/t/heartbeats/web/a:b@c')).toEqual({ kind: 'heartbeat', service: 'web', id: 'a:b@c' });
    expect(keys.parse('/t/leader/health-checker')).toBeUndefined();
    expect(keys.parse('/t/instances/web')).toBeUndefined();
    expect(keys.parse('/t/instances/web/a/b')).toBeUndefined();
    expect(keys.parse('/t/services/')).toBeUndefined();
  });
});
