import { Command } from 'commander';
import { type ControlClient, createControlClient } from '../client/index.ts';
import { reportError } from './exit-codes.ts';

/** What commands need from the process, passed in so nothing reaches for globals. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  stdout(text: string): void;
  stderr(text: string): void;
  setExitCode(code: number): void;
}

export const DEFAULT_CONTROL_URL = 'http://127.0.0.1:7400';

export interface ClientFlags {
  control?: string;
  token?: string;
  json?: boolean;
}

/** The options every command that talks to the control plane takes. */
export function addClientOptions(command: Command): Command {
  return command
    .option('--control <url>', `control-plane URL (default: $TRELLIS_CONTROL or ${DEFAULT_CONTROL_URL})`)
    .option('--token <token>', 'admin token (default: $TRELLIS_ADMIN_TOKEN)')
    .option('--json', 'print the JSON reply instead of a table');
}

/** Runs `fn` with a client built from the flags and environment, and closes it afterwards. */
export async function withClient<T>(
  ctx: CliContext,
  flags: ClientFlags,
  fn: (client: ControlClient) => Promise<T>,
): Promise<T> {
  const client = createControlClient({
    url: flags.control || ctx.env.TRELLIS_CONTROL || DEFAULT_CONTROL_URL,
    token: flags.token || ctx.env.TRELLIS_ADMIN_TOKEN || undefined,
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Prints `data` as JSON with --json, else what `human` renders. */
export function print(ctx: CliContext, flags: ClientFlags, data: unknown, human: () => string): void {
  ctx.stdout(flags.json ? `${JSON.stringify(data, null, 2)}\n` : human());
}

/** Wraps a command action: any error is reported on stderr and becomes the exit code. */
export function action<A extends unknown[]>(
  ctx: CliContext,
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      ctx.setExitCode(reportError(error, ctx.stderr));
    }
  };
}

/** A command that lists one kind of thing: `--json` prints `{"<name>": [...]}`, else `render`'s table. */
export function listCommand<T>(
  ctx: CliContext,
  name: string,
  description: string,
  list: (client: ControlClient) => Promise<T[]>,
  render: (items: T[]) => string,
): Command {
  return addClientOptions(new Command(name).description(description)).action(
    action(ctx, async (flags: ClientFlags) => {
      const items = await withClient(ctx, flags, list);
      print(ctx, flags, { [name]: items }, () => render(items));
    }),
  );
}
