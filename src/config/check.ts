import type { HealthCheck } from '../core/index.ts';
import type { CheckInput } from './schema.ts';

/** Resolves a user's check against the instance it belongs to: a path becomes a URL on the instance. */
export function toHealthCheck(input: CheckInput, address: string, port: number): HealthCheck {
  const timing = {
    intervalMs: input.interval,
    timeoutMs: input.timeout,
    successesBeforeHealthy: input.successesBeforeHealthy,
    failuresBeforeUnhealthy: input.failuresBeforeUnhealthy,
    deregisterAfterMs: input.deregisterAfter,
  };
  if (input.ttl !== undefined) return { type: 'ttl', ttlMs: input.ttl, ...timing };
  if (input.tcp !== undefined) {
    if (input.tcp === true) return { type: 'tcp', address, port, ...timing };
    const split = input.tcp.lastIndexOf(':');
    return {
      type: 'tcp',
      address: input.tcp.slice(0, split),
      port: Number(input.tcp.slice(split + 1)),
      ...timing,
    };
  }
  const http = input.http!;
  const url = /^https?:\/\//.test(http)
    ? http
    : `http://${hostForUrl(address)}:${port}${http.startsWith('/') ? '' : '/'}${http}`;
  return { type: 'http', url, method: input.method, headers: input.headers, ...timing };
}

function hostForUrl(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}
