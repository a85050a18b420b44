import { Command, Option } from 'commander';
import { parseDuration } from '../../core/index.ts';
import { action, type CliContext, DEFAULT_CONTROL_URL } from '../context.ts';
import { collect, durationText, hostPort, nonNegativeInteger, portNumber } from '../flags.ts';
import { type DataPlaneFlags, dataPlaneOptions, runDataPlane } from '../observability-flags.ts';

interface ProxyFlags extends DataPlaneFlags {
  service: string;
  app: string;
  inboundPort?: number;
  outboundPort?: number;
  advertise?: string;
  healthPath?: string;
  tcpCheck?: boolean;
  checkInterval?: string;
  tag?: string[];
  weight?: number;
  zone?: string;
  version?: string;
  id?: string;
  propagationDelay: string;
}

export function proxyCommand(ctx: CliContext): Command {
  const command = new Command('proxy')
    .description(
      'run a sidecar beside an app: inbound (mesh → app) and outbound (app → mesh) listeners, and the ' +
        "app's registration with a health check of the app, until SIGINT or SIGTERM",
    )
    .requiredOption('--service <name>', 'the service the app is an instance of')
    .requiredOption('--app <host:port>', 'where the app listens, e.g. 127.0.0.1:8080', hostPort)
    .option(
      '--inbound-port <port>',
      'mesh → app listener; its address is registered (default 7482)',
      portNumber,
    )
    .option('--outbound-port <port>', 'app → mesh listener, for HTTP_PROXY (default 7481)', portNumber)
    .option('--host <host>', 'address both listeners bind (default 127.0.0.1)')
    .option('--advertise <address>', 'address registered for the inbound listener (default: --host)')
    .option('--control <url>', `control-plane URL (default: $TRELLIS_CONTROL or ${DEFAULT_CONTROL_URL})`)
    .option('--token <token>', 'admin token (default: $TRELLIS_ADMIN_TOKEN)')
    .addOption(
      new Option(
        '--health-path <path>',
        'HTTP health check of the app at this path (default /health)',
      ).conflicts('tcpCheck'),
    )
    .option('--tcp-check', 'check the app by connecting to it instead of over HTTP')
    .option(
      '--check-interval <duration>',
      'how often the control plane checks the app (default 5s)',
      durationText,
    )
    .option('--tag <tag>', 'a tag of the instance; repeat for several', collect)
    .option('--weight <n>', 'relative share of traffic (default 100)', nonNegativeInteger)
    .option('--zone <zone>', 'zone or region, for zone-aware balancing')
    .option('--version <version>', 'version label, for traffic splitting')
    .option('--id <id>', 'instance id (default: <service>-<address>-<inbound port>)')
    .option(
      '--propagation-delay <duration>',
      'how long to keep serving after deregistering, while peers learn of it',
      durationText,
      '500ms',
    );
  return dataPlaneOptions(command, 'ports').action(
    action(ctx, (flags: ProxyFlags) => runSidecar(ctx, flags)),
  );
}

function runSidecar(ctx: CliContext, flags: ProxyFlags): Promise<void> {
  return runDataPlane(ctx, flags, {
    lingerMs: parseDuration(flags.propagationDelay),
    start: ({ startSidecar }, options) =>
      startSidecar({
        ...options,
        service: flags.service,
        app: flags.app,
        inboundPort: flags.inboundPort,
        outboundPort: flags.outboundPort,
        advertiseAddress: flags.advertise,
        healthPath: flags.healthPath,
        tcpCheck: flags.tcpCheck,
        checkInterval: flags.checkInterval,
        tags: flags.tag,
        weight: flags.weight,
        zone: flags.zone,
        version: flags.version,
        id: flags.id,
        propagationDelay: flags.propagationDelay,
      }),
    banner: (sidecar) =>
      `trellis sidecar for ${flags.service}\n` +
      `  inbound:  ${sidecar.inbound.host}:${sidecar.inbound.port} → app ${flags.app}\n` +
      `  outbound: ${sidecar.outbound.host}:${sidecar.outbound.port} (HTTP_PROXY=http://${sidecar.outbound.host}:${sidecar.outbound.port})\n` +
      `  instance: ${sidecar.instanceId} (${sidecar.registered() ? 'registered' : 'registering once the control plane answers'})\n`,
  });
}
