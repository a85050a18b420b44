import { Command } from 'commander';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';

export function heartbeatCommand(ctx: CliContext): Command {
  return addClientOptions(
    new Command('heartbeat')
      .description('record a heartbeat for an instance with a TTL check')
      .argument('<id>'),
  ).action(
    action(ctx, async (id: string, flags: ClientFlags) => {
      await withClient(ctx, flags, (client) => client.heartbeat(id));
      print(ctx, flags, { id, ok: true }, () => `heartbeat recorded for ${id}\n`);
    }),
  );
}
