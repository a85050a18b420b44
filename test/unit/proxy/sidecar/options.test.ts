import { describe, expect, it } from 'vitest';
import { sidecarRegistration, sidecarSettingsOf } from '../../../../src/proxy/sidecar/options.ts';

const base = { service: 'orders', app: '127.0.0.1:8080', control: 'http://127.0.0.1:7400' };

describe('sidecar options', () => {
  it('defaults the ports, the check and the timings', () => {
    expect(sidecarSettingsOf(base)).toMatchObject({
      app: { address: '127.0.0.1', port: 8080 },
      host: '127.0.0.1',
      inboundPort: 7482,
      outboundPort: 7481,
      tcpCheck: false,
      checkInterval: 5_000,
      drainTimeout: 10_000,
      propagationDelay: 500,
      workers: 1,
    });
    expect(sidecarSettingsOf({ ...base, app: '[::1]:9000' }).app).toEqual({ address: '::1', port: 9000 });
  });

  it.each([
    [{ app: 'localhost' }, 'app'],
    [{ app: '127.0.0.1:0' }, 'app'],
    [{ service: 'no spaces' }, 'service'],
    [{ control: 'ftp://x' }, 'control'],
    [{ inboundPort: 70_000 }, 'inboundPort'],
    [{ inboundPort: 9000, outboundPort: 9000 }, 'outboundPort'],
    [{ host: '0.0.0.0' }, 'advertiseAddress'],
    [{ tcpCheck: true, healthPath: '/health' }, 'tcpCheck'],
    [{ healthPath: 'health' }, 'healthPath'],
    [{ checkInterval: '10ms' }, 'checkInterval'],
    [{ workers: 0 }, 'workers'],
    [{ tags: [''] }, 'tags.0'],
  ])('refuses %o naming %s', (override, path) => {
    expect(() => sidecarSettingsOf({ ...base, ...override })).toThrow(
      expect.objectContaining({
        code: 'BAD_REQUEST',
        details: expect.arrayContaining([expect.objectContaining({ path })]),
      }),
    );
  });

  it('registers the inbound listener, checks the app, and marks the instance as a sidecar', () => {
    const settings = sidecarSettingsOf({
      ...base,
      tags: ['v2'],
      metadata: { team: 'x' },
      healthPath: '/ready',
    });
    expect(sidecarRegistration(settings, { host: '127.0.0.1', port: 7482 })).toEqual({
      id: 'orders-127.0.0.1-7482',
      service: 'orders',
      address: '127.0.0.1',
      port: 7482,
      tags: ['v2'],
      metadata: { team: 'x', 'trellis.sidecar': 'true', 'trellis.app': '127.0.0.1:8080' },
      weight: undefined,
      zone: undefined,
      version: undefined,
      check: { http: 'http://127.0.0.1:8080/ready', interval: 5_000 },
    });
    const tcp = sidecarSettingsOf({
      ...base,
      app: '[::1]:8080',
      host: '0.0.0.0',
      advertiseAddress: '10.0.0.5',
      tcpCheck: true,
      id: 'orders-1',
    });
    expect(sidecarRegistration(tcp, { host: '0.0.0.0', port: 7482 })).toMatchObject({
      id: 'orders-1',
      address: '10.0.0.5',
      check: { tcp: '[::1]:8080' },
      metadata: { 'trellis.app': '[::1]:8080' },
    });
  });
});
