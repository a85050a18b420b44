import {
  type BackoffOptions,
  type ControlClient,
  createRegistration,
  fullJitterDelay,
  type InstanceRegistration,
  type RegistrationInput,
} from '../../client/index.ts';
import type { Logger } from '../../core/index.ts';
import { type Clock, type TimerHandle, toMeshError } from '../../core/index.ts';

export interface KeeperDeps {
  client: ControlClient;
  clock: Clock;
  logger: Logger;
  random: () => number;
  backoff?: BackoffOptions;
}

/** Keeps a sidecar's instance registered for as long as the sidecar runs. */
export interface RegistrationKeeper {
  /**
   * Settles after the first attempt: resolves when it registered the instance, or when the control
   * plane could not be reached (attempts go on with backoff); rejects when the control plane refused
   * it (a bad token, a bad registration).
   */
  readonly started: Promise<void>;
  registered(): boolean;
  /** Registers the instance again if the control plane no longer knows it; one check at a time. */
  ensure(): void;
  /** Stops the attempts and removes the instance; resolves true when an instance was removed. */
  stop(): Promise<boolean>;
}

export function keepRegistered(input: RegistrationInput, deps: KeeperDeps): RegistrationKeeper {
  const { client, clock, logger } = deps;
  let registration: InstanceRegistration | undefined;
  let stopped = false;
  let sleeping: { timer: TimerHandle; wake: () => void } | undefined;
  let settle!: (error?: unknown) => void;
  const started = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        sleeping = undefined;
        resolve();
      };
      sleeping = { timer: clock.setTimeout(wake, ms), wake };
    });
  }

  async function run(): Promise<void> {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        const done = await createRegistration(input, { client, clock, logger });
        if (stopped) {
          await done.deregister().catch(() => {});
          return;
        }
        registration = done;
        logger.info({ id: done.id, address: `${input.address}:${input.port}` }, 'registered');
        settle();
        return;
      } catch (error) {
        const failure = toMeshError(error);
        if (attempt === 0 && !failure.retryable) {
          settle(failure);
          return;
        }
        settle();
        const level = attempt === 0 || !failure.retryable ? 'warn' : 'debug';
        logger[level]({ err: failure, id: input.id }, `could not register: ${failure.message}; retrying`);
      }
      await sleep(fullJitterDelay(attempt, deps.backoff, deps.random));
    }
  }

  const running = run();

  return {
    started,
    registered: () => registration !== undefined && !stopped,
    ensure() {
      if (registration === undefined || stopped) return;
      registration.ensure().catch((error: unknown) => {
        logger.debug({ err: error, id: registration?.id }, 'could not check the registration');
      });
    },
    async stop() {
      stopped = true;
      if (sleeping !== undefined) {
        clock.clearTimeout(sleeping.timer);
        sleeping.wake();
      }
      await running;
      if (registration === undefined) return false;
      try {
        await registration.deregister();
        logger.info({ id: registration.id }, 'deregistered');
        return true;
      } catch (error) {
        logger.warn({ err: error, id: registration.id }, 'could not deregister');
        return false;
      }
    },
  };
}
