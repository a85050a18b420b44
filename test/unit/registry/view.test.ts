import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, resolvePolicy } from '../../../src/config/index.ts';
import type { Route } from '../../../src/core/index.ts';
import { registryKeys } from '../../../src/registry/keys.ts';
import { RegistryView } from '../../../src/registry/view.ts';
import type { KeyValue } from '../../../src/store/index.ts';

const keys = registryKeys('/t/');
const logger = pino({ level: 'silent' });

function kv(key: string, value: unknown, modRevision: number): KeyValue {
  return {
    key,
    value: typeof value === 'string' ? value : JSON.stringify(value),
    createRevision: modRevision,
    modRevision,
    version: 1,
  } as KeyValue;
}

const route = (name: string, service: string): Route => ({
  name,
  priority: 0,
  match: { path: { prefix: `/${name}` } },
  service,
  stripPrefix: false,
  createdAt: 1,
});

describe('registry view: policies and routes', () => {
  it('turns policy and route keys into changes, and ignores unreadable ones', () => {
    const view = new RegistryView(keys, logger);
    const policy = resolvePolicy('web', { retry: { maxAttempts: 3 } });
    expect(view.apply({ type: 'put', kv: kv(keys.policy('web'), policy, 5) })).toEqual({
      type: 'policy.put',
      revision: 5,
      policy,
    });
    expect(view.apply({ type: 'put', kv: kv(keys.route('api'), route('api', 'web'), 6) })).toEqual({
      type: 'route.put',
      revision: 6,
      route: route('api', 'web'),
    });
    // Unreadable values (bad JSON, out of range, not a route) are skipped, keeping what was there.
    expect(view.apply({ type: 'put', kv: kv(keys.policy('web'), '{nope', 7) })).toBeUndefined();
    expect(
      view.apply({ type: 'put', kv: kv(keys.policy('web'), { retry: { maxAttempts: 99 } }, 8) }),
    ).toBeUndefined();
    expect(
      view.apply({ type: 'put', kv: kv(keys.route('bad'), { service: 'web', priority: 'x' }, 9) }),
    ).toBeUndefined();
    expect(view.policies.get('web')?.value).toEqual(policy);
    expect(view.routes.has('bad')).toBe(false);

    expect(view.apply({ type: 'delete', key: keys.policy('web'), modRevision: 10 })).toEqual({
      type: 'policy.delete',
      revision: 10,
      service: 'web',
    });
    expect(view.apply({ type: 'delete', key: keys.route('api'), modRevision: 11 })).toEqual({
      type: 'route.delete',
      revision: 11,
      name: 'api',
    });
    // Deleting what is not there is no change.
    expect(view.apply({ type: 'delete', key: keys.route('api'), modRevision: 12 })).toBeUndefined();
  });

  it('fills fields a stored policy lacks with the defaults, and takes the service from the key', () => {
    const view = new RegistryView(keys, logger);
    view.apply({
      type: 'put',
      kv: kv(keys.policy('web'), { service: 'other', timeout: { requestMs: 1000 } }, 3),
    });
    expect(view.policies.get('web')?.value).toEqual({
      ...defaultPolicy('web'),
      timeout: { requestMs: 1000, idleMs: 60_000 },
    });
  });

  it('reports the difference after a fresh list (a broken watch) as changes', () => {
    const view = new RegistryView(keys, logger);
    view.load([
      kv(keys.policy('a'), defaultPolicy('a'), 1),
      kv(keys.policy('b'), defaultPolicy('b'), 2),
      kv(keys.route('r1'), route('r1', 'a'), 3),
      kv(keys.route('r2'), route('r2', 'a'), 4),
    ]);
    const changed = resolvePolicy('b', { loadBalancer: { kind: 'random' } });
    const changes = view.replace(
      [
        kv(keys.policy('b'), changed, 9),
        kv(keys.route('r2'), route('r2', 'a'), 4),
        kv(keys.route('r3'), route('r3', 'b'), 8),
      ],
      10,
    );
    expect(changes).toEqual(
      expect.arrayContaining([
        { type: 'policy.put', revision: 10, policy: changed },
        { type: 'policy.delete', revision: 10, service: 'a' },
        { type: 'route.put', revision: 10, route: route('r3', 'b') },
        { type: 'route.delete', revision: 10, name: 'r1' },
      ]),
    );
    expect(changes).toHaveLength(4);
    expect([...view.policies.keys()]).toEqual(['b']);
    expect([...view.routes.keys()].sort()).toEqual(['r2', 'r3']);
  });
});
