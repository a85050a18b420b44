/** The tracing, access-log and metrics flags `trellis start`, `proxy` and `gateway` share. */
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_PROXY_SAMPLE_RATIO } from '../core/index.ts';
import { durationText, logLevelOption, portNumber, positiveInteger } from './flags.ts';

export interface ObservabilityFlags {
  sampleRatio?: number;
  accessLog?: string;
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
    .option('--workers <n>', `proxy processes sharing the ${ports}`, positiveInteger, 1);
  return metricsPortOption(observabilityOptions(command, DEFAULT_PROXY_SAMPLE_RATIO)).addOption(
    logLevelOption(),
  );
}
