import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { ControlOverrides } from '../../config/index.ts';
import { DEFAULT_SAMPLE_RATIO, MeshError } from '../../core/index.ts';
import { action, type CliContext } from '../context.ts';
import { logLevelOption } from '../flags.ts';
import { type ObservabilityFlags, observabilityOptions } from '../observability-flags.ts';
import { exitOnSignal } from '../shutdown.ts';

interface StartFlags extends ObservabilityFlags {
  host?: string;
  port?: number;
  dataDir?: string;
  store?: string;
  config?: string;
  adminToken?: string;
  logLevel: string;
  nodeId?: string;
  gatewayPort?: number;
  /** false with --no-gateway. */
  gateway: boolean;
  otlpEndpoint?: string;
}

const DEFAULT_CONFIG_FILE = 'trellis.yaml';
/** A stuck shutdown should not leave a process nobody can stop with one signal. */
const CLOSE_TIMEOUT_MS = 15_000;

export function startCommand(ctx: CliContext): Command {
  const command = new Command('start')
    .description(
      'run the control plane (API, watch streams, health checks) and the gateway until SIGINT or SIGTERM',
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1; beyond loopback needs an admin token)')
    .option('--port <port>', 'port to listen on (default 7400; 0 picks a free one)', portNumber)
    .option('--data-dir <dir>', 'where the embedded store keeps its files (default ./.trellis)')
    .option('--store <store>', 'memory, or etcd://host:port[,host:port…]')
    .option(
      '--config <file>',
      `configuration file, YAML or JSON (default: ./${DEFAULT_CONFIG_FILE} if it exists)`,
    )
    .option('--admin-token <token>', 'token the admin API requires (at least 16 characters)')
    .option('--node-id <id>', 'name of this node in health-check leader election')
    .option(
      '--gateway-port <port>',
      'port of the gateway (default 7480; 0 picks a free one); gateway.host in the config file sets its address',
      portNumber,
    )
    .option('--no-gateway', 'run without the gateway (invocation through the control plane still works)')
    .option(
      '--otlp-endpoint <url>',
      'also forward received spans to this OTLP/HTTP collector (e.g. http://127.0.0.1:4318)',
      httpUrl,
    );
  return observabilityOptions(command, DEFAULT_SAMPLE_RATIO)
    .addOption(logLevelOption())
    .action(action(ctx, (flags: StartFlags) => start(ctx, flags)));
}

async function start(ctx: CliContext, flags: StartFlags): Promise<void> {
  const file = flags.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const overrides: ControlOverrides = {
    host: flags.host,
    port: flags.port,
    dataDir: flags.dataDir,
    store: flags.store,
    adminToken: flags.adminToken,
  };
  // Loaded here, not at the top, so client commands do not pay for loading the control plane's code.
  const [{ loadConfig }, { isLoopbackHost, startControlNode }, { pino }] = await Promise.all([
    import('../../config/index.ts'),
    import('../../control/index.ts'),
    import('pino'),
  ]);
  const loaded = await loadConfig({ file, env: ctx.env, overrides });
  const config = {
    ...loaded,
    gateway: {
      ...loaded.gateway,
      ...(flags.gatewayPort === undefined ? {} : { port: flags.gatewayPort }),
      ...(flags.gateway ? {} : { enabled: false }),
    },
    telemetry: {
      ...loaded.telemetry,
      ...(flags.otlpEndpoint === undefined ? {} : { otlpEndpoint: flags.otlpEndpoint }),
      ...(flags.sampleRatio === undefined ? {} : { sampleRatio: flags.sampleRatio }),
      ...(flags.accessLog === undefined ? {} : { accessLog: flags.accessLog }),
    },
  };
  const { host, adminToken } = config.control;
  if (!adminToken && !isLoopbackHost(host)) {
    throw new MeshError(
      'INVALID_CONFIG',
      `refusing to listen on ${host} without an admin token: anyone on the network could change the mesh. ` +
        'Pass --admin-token <token> (at least 16 characters), set TRELLIS_ADMIN_TOKEN or control.adminToken, ' +
        'or listen on 127.0.0.1.',
      {
        details: [
          { path: 'control.adminToken', message: 'required when control.host is not a loopback address' },
        ],
      },
    );
  }

  const logger = pino({ level: flags.logLevel });
  // Signals are handled from before the node starts: a stop requested half-way waits for the start.
  const shutdown = exitOnSignal(ctx, logger, CLOSE_TIMEOUT_MS);
  const node = await startControlNode(config, { logger, nodeId: flags.nodeId });
  const memory = config.control.store === 'memory';
  // The gateway is the edge: a non-loopback address is allowed without a token, and said so here.
  const gateway = node.gateway
    ? `${node.gateway.url}${isLoopbackHost(node.gateway.host) ? '' : ` (listening on ${node.gateway.host}: reachable from the network)`}`
    : 'off';
  ctx.stdout(
    `trellis control plane listening on ${node.url}\n` +
      `  gateway:  ${gateway}\n` +
      `  store:    ${memory ? 'memory (embedded, write-ahead log)' : config.control.store}\n` +
      (memory ? `  data dir: ${resolve(config.control.dataDir)}\n` : '') +
      `  config:   ${file ?? '(none)'}\n` +
      (config.telemetry.otlpEndpoint
        ? `  otlp:     forwarding spans to ${config.telemetry.otlpEndpoint}\n`
        : '') +
      `  auth:     ${adminToken ? 'admin token required' : 'open (loopback only)'}\n`,
  );
  shutdown.started(node);
}

function httpUrl(value: string): string {
  if (!/^https?:\/\/\S+$/.test(value) || !URL.canParse(value)) {
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:4318');
  }
  return value;
}

function portNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
}
