import type { Logger } from 'pino';
import type { ControlClient, RegistrationInput } from '../client/index.ts';
import { instanceRegistration, validate } from '../config/index.ts';
import { type Clock, isMeshError, type TimerHandle } from '../core/index.ts';
import type { RegisterOptions, Registration } from './types.ts';

export interface RegistrationDeps {
  client: ControlClient;
  clock: Clock;
  logger: Logger;
  /** Called once the instance is deregistered (by `deregister()` or on close). */
  onGone?(registration: Registration): void;
}

const DEFAULT_TTL = '10s';

/**
 * Registers one instance. With `healthPath` the control plane checks it over HTTP; otherwise it gets
 * a TTL check and this process heartbeats every third of the TTL. A heartbeat that finds the instance
 * gone (removed by `deregisterAfter`, or a control plane that lost it) registers it again.
 */
export async function registerInstance(
  options: RegisterOptions,
  deps: RegistrationDeps,
): Promise<Registration> {
  const { client, clock, logger } = deps;
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
  const parsed = validate(instanceRegistration, input, { what: 'registration' });
  const heartbeatMs = parsed.check?.ttl !== undefined ? Math.max(50, Math.floor(parsed.check.ttl / 3)) : 0;

  const instance = await client.registerInstance(input);
  const id = instance.id;
  let stopped = false;
  let timer: TimerHandle | undefined;
  let beating: Promise<void> | undefined;
  let failing = false;

  async function beat(): Promise<void> {
    try {
      await client.heartbeat(id);
      if (failing) logger.info({ id }, 'mesh sdk: heartbeats are answered again');
      failing = false;
    } catch (error) {
      if (stopped) return;
      let failure = error;
      if (isMeshError(error) && error.code === 'INSTANCE_NOT_FOUND') {
        logger.warn(
          { id },
          'mesh sdk: the control plane no longer knows this instance; registering it again',
        );
        try {
          await client.registerInstance({ ...input, id });
          await client.heartbeat(id);
          failing = false;
          return;
        } catch (again) {
          failure = again;
        }
      }
      if (!failing) logger.warn({ err: failure, id }, 'mesh sdk: heartbeat failed; will keep trying');
      failing = true;
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      timer = undefined;
      beating = beat().finally(() => {
        beating = undefined;
        schedule();
      });
    }, heartbeatMs);
    timer.unref?.();
  }

  if (heartbeatMs > 0) {
    // The first heartbeat right away, so the instance need not wait a third of its TTL to be healthy.
    beating = beat().finally(() => {
      beating = undefined;
    });
    await beating;
    schedule();
  }

  let gone: Promise<void> | undefined;
  const registration: Registration = {
    id,
    service: instance.service,
    instance,
    deregister() {
      gone ??= (async () => {
        stopped = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        await beating;
        try {
          await client.deregisterInstance(id);
        } catch (error) {
          if (!(isMeshError(error) && (error.code === 'INSTANCE_NOT_FOUND' || error.code === 'NOT_FOUND'))) {
            // Heartbeats stay stopped; a later call tries the removal again.
            gone = undefined;
            throw error;
          }
        }
        deps.onGone?.(registration);
      })();
      return gone;
    },
  };
  return registration;
}
