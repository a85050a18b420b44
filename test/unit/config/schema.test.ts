import { describe, expect, it } from 'vitest';
import {
  instanceRegistration,
  seedRegistration,
  toHealthCheck,
  trellisConfig,
  validate,
} from '../../../src/config/index.ts';
import { failure } from '../../helpers/mesh-error.ts';

describe('the one schema', () => {
  it('fills defaults for an instance registration', () => {
    const parsed = validate(instanceRegistration, { service: 'orders', address: '127.0.0.1', port: 9001 });
    expect(parsed).toEqual({
      service: 'orders',
      address: '127.0.0.1',
      port: 9001,
      tags: [],
      metadata: {},
      weight: 100,
    });
  });

  it('names the path of every bad field', () => {
    const error = failure(() =>
      validate(instanceRegistration, {
        service: 'Bad Name!',
        address: '127.0.0.1',
        port: 70000,
        check: { ttl: 'soon' },
      }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.details.map((detail) => detail.path).sort()).toEqual(['check.ttl', 'port', 'service']);
  });

  it('rejects unknown fields in native bodies', () => {
    const error = failure(() =>
      validate(instanceRegistration, { service: 'a', address: 'h', port: 1, colour: 'red' }),
    );
    expect(error.details[0]!.message).toMatch(/colour/);
  });

  it('requires exactly one check kind', () => {
    const error = failure(() =>
      validate(instanceRegistration, {
        service: 'a',
        address: 'h',
        port: 1,
        check: { http: '/h', ttl: '5s' },
      }),
    );
    expect(error.details[0]!.path).toBe('check');
  });

  it('turns a check path into a URL on the instance and keeps timings in ms', () => {
    const { check } = validate(instanceRegistration, {
      service: 'a',
      address: '::1',
      port: 8080,
      check: { http: '/health', interval: '5s', timeout: '500ms' },
    });
    expect(toHealthCheck(check!, '::1', 8080)).toMatchObject({
      type: 'http',
      url: 'http://[::1]:8080/health',
      intervalMs: 5000,
      timeoutMs: 500,
      failuresBeforeUnhealthy: 3,
    });
    expect(toHealthCheck({ ...check!, http: undefined, tcp: true }, '10.0.0.1', 5432)).toMatchObject({
      type: 'tcp',
      address: '10.0.0.1',
      port: 5432,
    });
  });

  it('accepts the seed API body with a string port and ignores extra fields', () => {
    const parsed = validate(seedRegistration, {
      service_name: 'users',
      address: '127.0.0.1',
      port: '8081',
      extra: 1,
    });
    expect(parsed).toMatchObject({ service_name: 'users', port: 8081 });
  });

  it('defaults trellis.yaml to a loopback control plane on 7400 with the embedded store', () => {
    expect(validate(trellisConfig, {}).control).toMatchObject({
      host: '127.0.0.1',
      port: 7400,
      store: 'memory',
      dataDir: './.trellis',
    });
    const error = failure(() => validate(trellisConfig, { control: { store: 'mysql://x' } }));
    expect(error.details[0]!.path).toBe('control.store');
  });
});
