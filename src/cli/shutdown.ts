import type { Logger } from '../core/index.ts';
import type { CliContext } from './context.ts';
import { EXIT, reportError } from './exit-codes.ts';

export interface Closable {
  close(): Promise<void>;
}

/**
 * For long-running commands: the first SIGINT/SIGTERM closes what `started` was given and exits 0 (1
 * if closing fails or takes longer than `closeTimeoutMs`); a second one exits at once. A signal that
 * arrives while starting takes effect once started. Install it before starting.
 */
export function exitOnSignal(
  ctx: CliContext,
  logger: Logger,
  closeTimeoutMs: number,
): { started(running: Closable): void } {
  let running: Closable | undefined;
  let requested: NodeJS.Signals | undefined;
  let closing = false;

  const close = (target: Closable) => {
    if (closing) return;
    closing = true;
    const timer = setTimeout(() => {
      logger.error('did not stop in time; exiting');
      process.exit(EXIT.FAILURE);
    }, closeTimeoutMs);
    timer.unref();
    target.close().then(
      () => process.exit(EXIT.OK),
      (error: unknown) => process.exit(reportError(error, ctx.stderr)),
    );
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(EXIT.FAILURE);
    }
    requested = signal;
    logger.info({ signal }, running ? 'stopping' : 'stopping once started');
    if (running) close(running);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return {
    started(target) {
      running = target;
      if (requested) close(target);
    },
  };
}
