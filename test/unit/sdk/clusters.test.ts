import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../src/config/index.ts';
import type { Instance, ServicePolicy } from '../../../src/core/index.ts';
import { ClusterSet } from '../../../src/sdk/clusters.ts';
import { createPolicyLookup } from '../../../src/sdk/policies.ts';
import { createFakeClock, seededRandom } from '../../helpers/fake-clock.ts';

function instance(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'web',
    address: '127.0.0.1',
    port: 10_000 + Number(id.replace(/\D/g, '') || 0),
    tags: [],
    metadata: {},
    weight: 100,
    health: 'healthy',
    registeredAt: 0,
    healthChangedAt: 0,
    ...overrides,
  };
}

function policy(service: string, change: (policy: ServicePolicy) => void = () => {}): ServicePolicy {
  const result = defaultPolicy(service);
  change(result);
  return result;
}

describe('ClusterSet', () => {
  const sets: ClusterSet[] = [];
  afterEach(async () => {
    for (const set of sets.splice(0)) await set.close();
  });

  function setup() {
    const state = { instances: [] as Instance[], policies: new Map<string, ServicePolicy>() };
    const set = new ClusterSet(
      {
        instancesOf: (service) => state.instances.filter((item) => item.service === service),
        policy: (service) => state.policies.get(service) ?? defaultPolicy(service),
        serviceNames: () => new Set(state.instances.map((item) => item.service)),
      },
      { clock: createFakeClock(), logger: pino({ level: 'silent' }), random: seededRandom(7) },
    );
    sets.push(set);
    return { state, set };
  }

  it('creates a cluster on first use and keeps endpoint objects across changes', () => {
    const { state, set } = setup();
    state.instances = [instance('w1'), instance('w2')];
    const cluster = set.get('web');
    expect(cluster.endpoints.map((endpoint) => endpoint.id)).toEqual(['w1', 'w2']);
    const [w1, w2] = cluster.endpoints;
    w1.ewmaMs = 12;

    // Nothing is re-read until a change marks the cluster stale.
    state.instances = [instance('w1', { health: 'unhealthy' }), instance('w2'), instance('w3')];
    expect(set.get('web').endpoints).toHaveLength(2);
    set.invalidate({ type: 'instance.put', revision: 2, instance: state.instances[2] });
    const again = set.get('web');
    expect(again).toBe(cluster);
    expect(again.endpoints.map((endpoint) => endpoint.id)).toEqual(['w1', 'w2', 'w3']);
    expect(again.endpoints[0]).toBe(w1);
    expect(again.endpoints[1]).toBe(w2);
    expect(w1.health).toBe('unhealthy');
    expect(w1.ewmaMs).toBe(12);
    expect(again.balancer.eligible.map((endpoint) => endpoint.id)).toEqual(['w2', 'w3']);

    // A new port gets a new pool for the same endpoint object.
    const pool = w2.pool;
    state.instances = [instance('w2', { port: 12_345 })];
    set.invalidate({ type: 'instance.delete', revision: 3, id: 'w1', service: 'web' });
    set.get('web');
    expect(cluster.endpoints).toEqual([w2]);
    expect(w2.port).toBe(12_345);
    expect(w2.pool).not.toBe(pool);
  });

  it('ignores changes to other services, and snapshots invalidate everything', () => {
    const { state, set } = setup();
    state.instances = [instance('w1')];
    const cluster = set.get('web');
    set.invalidate({ type: 'instance.put', revision: 2, instance: instance('a1', { service: 'api' }) });
    expect(cluster.stale).toBe(false);
    set.invalidate({ type: 'route.delete', revision: 3, name: 'r' });
    expect(cluster.stale).toBe(false);
    set.invalidateAll();
    expect(cluster.stale).toBe(true);
    // An instance that moves to another service leaves this one.
    set.get('web');
    set.invalidate({ type: 'instance.put', revision: 4, instance: instance('w1', { service: 'api' }) });
    expect(cluster.stale).toBe(true);
  });

  it('resolves a name written in another case to the service with instances, as the proxies do', () => {
    const { state, set } = setup();
    state.instances = [instance('w1')];
    const cluster = set.get('web');
    expect(set.get('Web')).toBe(cluster);
    expect(set.get('WEB').endpoints.map((endpoint) => endpoint.id)).toEqual(['w1']);
    expect(set.get('web.')).toBe(cluster);
    expect(set.get('WEB.')).toBe(cluster);

    // A service registered later under the other case: the exact name wins from the next change on.
    state.instances = [instance('w1'), instance('W2', { service: 'Web' })];
    set.invalidate({ type: 'instance.put', revision: 2, instance: state.instances[1] });
    expect(set.get('Web').endpoints.map((endpoint) => endpoint.id)).toEqual(['W2']);
    expect(set.get('WEB')).toBe(cluster);

    // A name asked for before any instance had it reaches the service once one registers.
    expect(set.get('Api').endpoints).toEqual([]);
    state.instances = [...state.instances, instance('a1', { service: 'api' })];
    set.invalidate({ type: 'instance.put', revision: 3, instance: state.instances[2] });
    expect(set.get('Api').endpoints.map((endpoint) => endpoint.id)).toEqual(['a1']);
  });

  it('applies policy changes: a new balancer kind, breakers rebuilt only when their settings change', () => {
    const { state, set } = setup();
    state.instances = [instance('w1'), instance('w2')];
    const cluster = set.get('web');
    expect(cluster.balancer.kind).toBe('ewma');
    const breaker = cluster.endpoints[0].breaker;

    state.policies.set(
      'web',
      policy('web', (p) => {
        p.loadBalancer.kind = 'round-robin';
        p.retry.maxAttempts = 4;
      }),
    );
    set.invalidate({ type: 'policy.put', revision: 2, policy: state.policies.get('web')! });
    set.get('web');
    expect(cluster.balancer.kind).toBe('round-robin');
    expect(cluster.balancer.eligible).toHaveLength(2);
    expect(cluster.retry.maxAttempts).toBe(4);
    expect(cluster.endpoints[0].breaker).toBe(breaker);

    state.policies.set(
      'web',
      policy('web', (p) => {
        p.loadBalancer.kind = 'round-robin';
        p.circuitBreaker.enabled = false;
        p.outlierDetection.enabled = false;
        p.loadBalancer.hashHeader = 'X-User';
      }),
    );
    set.invalidate({ type: 'policy.put', revision: 3, policy: state.policies.get('web')! });
    set.get('web');
    expect(cluster.endpoints[0].breaker).toBeNull();
    expect(cluster.outlier).toBeNull();
    expect(cluster.hashHeader).toBe('x-user');

    // An invalid policy is ignored and the current one kept.
    state.policies.set(
      'web',
      policy('web', (p) => {
        p.retry.maxAttempts = 0;
      }),
    );
    set.invalidate({ type: 'policy.delete', revision: 4, service: 'web' });
    set.get('web');
    expect(cluster.balancer.kind).toBe('round-robin');
    expect(cluster.retry.maxAttempts).toBe(2);
  });

  it('picks past open breakers and says CIRCUIT_OPEN or NO_HEALTHY_UPSTREAM when it cannot', () => {
    const { state, set } = setup();
    state.policies.set(
      'web',
      policy('web', (p) => {
        p.circuitBreaker.consecutiveFailures = 1;
      }),
    );
    expect(() => set.get('web').pick(undefined, undefined)).toThrow(
      expect.objectContaining({
        code: 'NO_HEALTHY_UPSTREAM',
        message: expect.stringContaining('no instances'),
      }),
    );
    state.instances = [instance('w1'), instance('w2')];
    set.invalidateAll();
    const cluster = set.get('web');
    const [w1, w2] = cluster.endpoints;
    cluster.recordStart(w1);
    cluster.recordFailure(w1, 1);
    expect(w1.breaker!.state).toBe('open');
    for (let i = 0; i < 10; i++) {
      const picked = cluster.pick(undefined, undefined);
      expect(picked).toBe(w2);
      cluster.recordStart(picked);
      cluster.recordSuccess(picked, 1);
    }
    cluster.recordStart(w2);
    cluster.recordFailure(w2, 1);
    expect(() => cluster.pick(undefined, undefined)).toThrow(
      expect.objectContaining({ code: 'CIRCUIT_OPEN' }),
    );
  });
});

describe('createPolicyLookup', () => {
  it("uses the mesh's stored policy, else the defaults", () => {
    const stored = policy('web', (p) => {
      p.loadBalancer.kind = 'weighted';
    });
    const lookup = createPolicyLookup({ policy: (service) => (service === 'web' ? stored : undefined) });
    expect(lookup('web')).toBe(stored);
    expect(lookup('api')).toEqual(defaultPolicy('api'));
    expect(lookup('api').service).toBe('api');
  });
});
