import { Command } from 'commander';
import {
  action,
  addClientOptions,
  type CliContext,
  type ClientFlags,
  print,
  withClient,
} from '../context.ts';

export function deregisterCommand(ctx: CliContext): Command {
  return addClientOptions(
    new Command('deregister').description('remove an instance from the registry').argument('<id>'),
  ).action(
    action(ctx, async (id: string, flags: ClientFlags) => {
      await withClient(ctx, flags, (client) => client.deregisterInstance(id));
      print(ctx, flags, { id, deregistered: true }, () => `deregistered ${id}\n`);
    }),
  );
}
