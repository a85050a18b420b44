import { Command } from 'commander';
import { parseDuration } from '../../core/index.ts';
import { action, type CliContext, DEFAULT_CONTROL_URL } from '../context.ts';
import { portNumber } from '../flags.ts';
import { dataPlaneOptions, type ObservabilityFlags } from '../observability-flags.ts';
import { exitOnSignal } from '../shutdown.ts';

interface GatewayFlags extends ObservabilityFlags {
  port?: number;
  host?: string;
  control?: string;
  token?: string;
  drainTimeout: string;
  workers: number;
  metricsPort?: number;
  logLevel: string;
}

/** Beyond draining, what a stuck shutdown may take before the process gives up on it. */
const CLOSE_SLACK_MS = 10_000;

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

async function runGateway(ctx: CliContext, flags: GatewayFlags): Promise<void> {
  const [{ startGateway }, { createJsonLogger }] = await Promise.all([
    import('../../proxy/index.ts'),
    import('../../core/index.ts'),
  ]);
  const logger = createJsonLogger({ level: flags.logLevel });
  const shutdown = exitOnSignal(ctx, logger, parseDuration(flags.drainTimeout) + CLOSE_SLACK_MS);
  const control = flags.control || ctx.env.TRELLIS_CONTROL || DEFAULT_CONTROL_URL;
  const gateway = await startGateway({
    control,
    token: flags.token || ctx.env.TRELLIS_ADMIN_TOKEN || undefined,
    host: flags.host,
    port: flags.port,
    drainTimeout: flags.drainTimeout,
    workers: flags.workers,
    sampleRatio: flags.sampleRatio,
    accessLog: flags.accessLog,
    metricsPort: flags.metricsPort,
    logger,
    logLevel: flags.logLevel,
  });
  ctx.stdout(
    `trellis gateway listening on http://${gateway.gateway.host}:${gateway.gateway.port}\n` +
      `  control:  ${control}\n` +
      (gateway.metricsUrl ? `  metrics:  ${gateway.metricsUrl}\n` : '') +
      (flags.workers > 1 ? `  workers:  ${gateway.workerPids().join(', ')}\n` : ''),
  );
  shutdown.started(gateway);
}
