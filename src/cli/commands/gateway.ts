import { Command } from 'commander';
import { action, type CliContext, DEFAULT_CONTROL_URL } from '../context.ts';
import { portNumber } from '../flags.ts';
import { type DataPlaneFlags, dataPlaneOptions, runDataPlane } from '../observability-flags.ts';

interface GatewayFlags extends DataPlaneFlags {
  port?: number;
}

export function gatewayCommand(ctx: CliContext): Command {
  const command = new Command('gateway')
    .description(
      "run an edge gateway apart from the control plane: routes and services come from the control plane's " +
        'watch stream, and the last-known view is served while it is away; until SIGINT or SIGTERM',
    )
    .option('--port <port>', 'port to listen on (default 7480)', portNumber)
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--control <url>', `control-plane URL (default: $TRELLIS_CONTROL or ${DEFAULT_CONTROL_URL})`)
    .option('--token <token>', 'admin token (default: $TRELLIS_ADMIN_TOKEN)');
  return dataPlaneOptions(command, 'port').action(
    action(ctx, (flags: GatewayFlags) => runGateway(ctx, flags)),
  );
}

function runGateway(ctx: CliContext, flags: GatewayFlags): Promise<void> {
  return runDataPlane(ctx, flags, {
    start: ({ startGateway }, options) => startGateway({ ...options, port: flags.port }),
    banner: (gateway) =>
      `trellis gateway listening on http://${gateway.gateway.host}:${gateway.gateway.port}\n`,
  });
}
