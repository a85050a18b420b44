import {
  createRegistration,
  type InstanceRegistration,
  type RegistrationDeps,
  type RegistrationInput,
} from '../client/index.ts';
import { instanceRegistration, validate } from '../config/index.ts';
import type { RegisterOptions } from './types.ts';

const DEFAULT_TTL = '10s';

/**
 * Registers one instance (see createRegistration in src/client). With `healthPath` the control plane
 * checks it over HTTP; otherwise it gets a TTL check and this process heartbeats every third of the TTL.
 */
export function registerInstance(
  options: RegisterOptions,
  deps: RegistrationDeps,
): Promise<InstanceRegistration> {
  const input: RegistrationInput = {
    id: options.id,
    service: options.service,
    address: options.address ?? '127.0.0.1',
    port: options.port,
    tags: options.tags,
    metadata: options.metadata,
    weight: options.weight,
    zone: options.zone,
    version: options.version,
    check:
      options.healthPath !== undefined
        ? { http: options.healthPath, interval: options.checkInterval }
        : { ttl: options.ttl ?? DEFAULT_TTL, interval: options.checkInterval },
  };
  // Fails here, with the path of the bad field, before anything is sent.
  validate(instanceRegistration, input, { what: 'registration' });
  return createRegistration(input, deps);
}
