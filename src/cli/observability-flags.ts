/** The tracing, access-log and metrics flags `trellis start`, `proxy` and `gateway` share. */
import { type Command, InvalidArgumentError } from 'commander';
import { portNumber } from './flags.ts';

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
