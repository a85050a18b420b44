/**
 * The tracing, access-log and metrics flags `trellis start`, `proxy` and `gateway` share, and the rest
 * of what the two data-plane commands (`proxy`, `gateway`) share: their common flags and start-up.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_BUSY_POLL_MS } from '../config/fields.ts';
import {
  createJsonLogger,
  DEFAULT_PROXY_SAMPLE_RATIO,
  formatDuration,
  parseDuration,
} from '../core/index.ts';
import type { GatewayOptions } from '../proxy/index.ts';
import { type CliContext, DEFAULT_CONTROL_URL } from './context.ts';
import { durationText, logLevelOption, portNumber, positiveInteger } from './flags.ts';
import { type Closable, exitOnSignal } from './shutdown.ts';

export interface ObservabilityFlags {
  sampleRatio?: number;
  accessLog?: string;
}

/** The flags `proxy` and `gateway` both take: their own `--host`, `--control`, `--token`, and `dataPlaneOptions`. */
export interface DataPlaneFlags extends ObservabilityFlags {
  host?: string;
  control?: string;
  token?: string;
  drainTimeout: string;
  busyPoll?: string;
  workers: number;
  metricsPort?: number;
  logLevel: string;
}

export function sampleRatioValue(value: string): number {
  const ratio = Number(value);
  if (value.trim() === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1)
    throw new InvalidArgumentError('expected a number from 0 to 1, e.g. 0.1');
  return ratio;
}

export function accessLogValue(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected off, stdout or a file path');
  return value;
}

/** `--sample-ratio` and `--access-log`. */
export function observabilityOptions(command: Command, defaultSampleRatio: number): Command {
  return command
    .option(
      '--sample-ratio <ratio>',
      `share of new traces sampled, 0-1 (default ${defaultSampleRatio}); requests bringing a traceparent follow its decision`,
      sampleRatioValue,
    )
    .option(
      '--access-log <destination>',
      'one JSON line per request: off, stdout or a file (default off)',
      accessLogValue,
    );
}

/** `--metrics-port`. */
export function metricsPortOption(command: Command): Command {
  return command.option(
    '--metrics-port <port>',
    'serve Prometheus metrics at http://<host>:<port>/metrics (default off; 7483 is customary for sidecars)',
    portNumber,
  );
}

/**
 * What `trellis proxy` and `trellis gateway` add after their own flags: the drain timeout, the
 * workers, tracing, the access log, the metrics port and the log level.
 */
export function dataPlaneOptions(command: Command, ports: 'port' | 'ports'): Command {
  command
    .option(
      '--drain-timeout <duration>',
      'how long shutting down waits for requests in flight',
      durationText,
      '10s',
    )
    .option(
      '--busy-poll <duration>',
      'while a request awaits a reply from an upstream that answers within this long, poll for it ' +
        'instead of sleeping (saves waking a sleeping core, 50-100 µs on a VM; costs at most this ' +
        `much CPU per request); 0 turns it off (default ${formatDuration(DEFAULT_BUSY_POLL_MS)})`,
      durationText,
    )
    .option('--workers <n>', `proxy processes sharing the ${ports}`, positiveInteger, 1);
  return metricsPortOption(observabilityOptions(command, DEFAULT_PROXY_SAMPLE_RATIO)).addOption(
    logLevelOption(),
  );
}

/** The options `startGateway` and `startSidecar` both take, as `runDataPlane` fills them from the flags. */
export type DataPlaneStartOptions = Pick<
  GatewayOptions,
  | 'control'
  | 'token'
  | 'host'
  | 'drainTimeout'
  | 'busyPoll'
  | 'workers'
  | 'sampleRatio'
  | 'accessLog'
  | 'metricsPort'
  | 'logger'
  | 'logLevel'
>;

interface DataPlaneProcess extends Closable {
  readonly metricsUrl: string | undefined;
  workerPids(): number[];
}

export interface DataPlaneRun<P extends DataPlaneProcess> {
  start(proxy: typeof import('../proxy/index.ts'), options: DataPlaneStartOptions): Promise<P>;
  /** The first lines printed once started; the control, metrics and worker lines follow. */
  banner(started: P): string;
  /** What closing takes before draining starts (a sidecar's propagation delay); default 0. */
  lingerMs?: number;
}

/** Beyond draining, what a stuck shutdown may take before the process gives up on it. */
const CLOSE_SLACK_MS = 10_000;

/**
 * Runs a data-plane command until SIGINT or SIGTERM: the logger, the signal handling (installed
 * before starting), the control plane's URL and token from the flags or the environment, then
 * `run.start` and what it started printed.
 */
export async function runDataPlane<P extends DataPlaneProcess>(
  ctx: CliContext,
  flags: DataPlaneFlags,
  run: DataPlaneRun<P>,
): Promise<void> {
  const proxy = await import('../proxy/index.ts');
  const logger = createJsonLogger({ level: flags.logLevel });
  const shutdown = exitOnSignal(
    ctx,
    logger,
    (run.lingerMs ?? 0) + parseDuration(flags.drainTimeout) + CLOSE_SLACK_MS,
  );
  const control = flags.control || ctx.env.TRELLIS_CONTROL || DEFAULT_CONTROL_URL;
  const started = await run.start(proxy, {
    control,
    token: flags.token || ctx.env.TRELLIS_ADMIN_TOKEN || undefined,
    host: flags.host,
    drainTimeout: flags.drainTimeout,
    busyPoll: flags.busyPoll,
    workers: flags.workers,
    sampleRatio: flags.sampleRatio,
    accessLog: flags.accessLog,
    metricsPort: flags.metricsPort,
    logger,
    logLevel: flags.logLevel,
  });
  ctx.stdout(
    run.banner(started) +
      `  control:  ${control}\n` +
      (started.metricsUrl ? `  metrics:  ${started.metricsUrl}\n` : '') +
      (flags.workers > 1 ? `  workers:  ${started.workerPids().join(', ')}\n` : ''),
  );
  shutdown.started(started);
  // Drops start-up code, then keeps the heap and malloc small (unref'd timers).
  proxy.startMemoryUpkeep(logger);
}
