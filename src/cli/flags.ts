/** Parsers for command-line flag values; a bad value names the flag (commander adds it) and exits 1. */
import { InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../core/index.ts';

export function portNumber(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
}

/** `host:port` or `[v6]:port`, with a port 1-65535. */
export function hostPort(value: string): string {
  const match = /^(?:\[[^\]]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[1]) < 1 || Number(match[1]) > 65535)
    throw new InvalidArgumentError('expected <host:port>, e.g. 127.0.0.1:8080');
  return value;
}

/** `500ms`, `10s`, `5m`… or milliseconds; kept as written for the schema, checked here. */
export function durationText(value: string): string {
  try {
    parseDuration(/^\d+$/.test(value) ? Number(value) : value);
  } catch {
    throw new InvalidArgumentError('expected a duration such as 500ms, 10s or 5m');
  }
  return /^\d+$/.test(value) ? `${value}ms` : value;
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected an integer of at least 1');
  return Number(value);
}

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected an integer of at least 0');
  return Number(value);
}

/** For repeatable flags: `--tag a --tag b`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--log-level`, as every long-running command takes it. */
export function logLevelOption(defaultLevel = 'info', description = 'log level'): Option {
  return new Option('--log-level <level>', description)
    .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default(defaultLevel);
}
