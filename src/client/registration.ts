import type { Logger } from '../core/index.ts';
import { type Clock, type Instance, isMeshError, type TimerHandle } from '../core/index.ts';
import type { ControlClient } from './control-client.ts';
import type { RegistrationInput } from './types.ts';

export interface RegistrationDeps {
  client: ControlClient;
  clock: Clock;
  logger: Logger;
  /** Called once the instance is deregistered (by `deregister()` or on close). */
  onGone?(registration: InstanceRegistration): void;
}

/** One instance registered by this process (the SDK's `mesh.register()`, a sidecar). */
export interface InstanceRegistration {
  readonly id: string;
  readonly service: string;
  /** As the control plane answered the registration. */
  readonly instance: Instance;
  /**
   * Registers the instance again when the control plane no longer knows it (removed by hand, by
   * `deregisterAfter`, or lost with a store); does nothing after `deregister()`.
   */
  ensure(): Promise<void>;
  /** Stops the heartbeats and removes the instance; safe to call more than once. */
  deregister(): Promise<void>;
}

/**
 * Registers one instance and keeps it registered. With a TTL check this process heartbeats every
 * third of the TTL; a heartbeat that finds the instance gone registers it again. HTTP and TCP checks
 * are run by the control plane, so those need no heartbeats.
 */
export async function createRegistration(
  input: RegistrationInput,
  deps: RegistrationDeps,
): Promise<InstanceRegistration> {
  const { client, clock, logger } = deps;
  // The control plane validates the input (BAD_REQUEST naming the field) and answers with the
  // check it parsed, whose TTL sets the heartbeat.
  const instance = await client.registerInstance(input);
  const check = instance.check;
  const heartbeatMs = check?.type === 'ttl' ? Math.max(50, Math.floor(check.ttlMs / 3)) : 0;
  const id = instance.id;
  let stopped = false;
  let timer: TimerHandle | undefined;
  let beating: Promise<void> | undefined;
  let ensuring: Promise<void> | undefined;
  let failing = false;

  async function registerAgain(): Promise<void> {
    logger.warn(
      { id },
      'registration: the control plane no longer knows this instance; registering it again',
    );
    await client.registerInstance({ ...input, id });
    if (heartbeatMs > 0) await client.heartbeat(id);
  }

  async function beat(): Promise<void> {
    try {
      await client.heartbeat(id);
      if (failing) logger.info({ id }, 'registration: heartbeats are answered again');
      failing = false;
    } catch (error) {
      if (stopped) return;
      let failure = error;
      if (isMeshError(error) && error.code === 'INSTANCE_NOT_FOUND') {
        try {
          await registerAgain();
          failing = false;
          return;
        } catch (again) {
          failure = again;
        }
      }
      if (!failing) logger.warn({ err: failure, id }, 'registration: heartbeat failed; will keep trying');
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
  const registration: InstanceRegistration = {
    id,
    service: instance.service,
    instance,
    ensure() {
      if (stopped) return Promise.resolve();
      ensuring ??= (async () => {
        try {
          await client.getInstance(id);
        } catch (error) {
          if (stopped || !(isMeshError(error) && error.code === 'INSTANCE_NOT_FOUND')) throw error;
          await registerAgain();
        }
      })().finally(() => {
        ensuring = undefined;
      });
      return ensuring;
    },
    deregister() {
      gone ??= (async () => {
        stopped = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        await beating;
        await ensuring?.catch(() => {});
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
