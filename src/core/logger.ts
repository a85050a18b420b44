import { hostname } from 'node:os';

/**
 * The logging the mesh's modules need. pino's Logger fits this interface (the control plane uses
 * pino); the proxies log through `createJsonLogger`, which writes the same JSON lines as pino but
 * costs a few kilobytes where importing pino keeps ~5 MB resident, a twelfth of a sidecar's budget.
 */
export interface LogFn {
  (object: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  /** The lowest level written: trace, debug, info, warn, error, fatal or silent. */
  readonly level: string;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger adding `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

/** pino's level numbers, so the lines read the same whichever logger wrote them. */
export const LOG_LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

export interface JsonLoggerOptions {
  /** Default info. */
  level?: string;
  /** Receives each line, newline included; default: standard output (synchronous on Linux). */
  write?: (line: string) => void;
  /** Epoch ms; default Date.now. */
  now?: () => number;
}

/**
 * A logger writing one JSON object per line: `level` (pino's numbers), `time`, `pid`, `hostname`,
 * the bindings, the logged object's fields and `msg`. An Error under `err` (or logged on its own)
 * becomes `{type, message, stack, code?}` as pino's serializer makes it.
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const threshold = LOG_LEVELS[level];
  if (threshold === undefined) {
    throw new TypeError(
      `unknown log level "${level}": expected one of ${Object.keys(LOG_LEVELS).join(', ')}`,
    );
  }
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const now = options.now ?? Date.now;
  // The process fields once: every line starts with them.
  const base = `"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;
  return jsonLogger(level, threshold, base, '', write, now);
}

function jsonLogger(
  level: string,
  threshold: number,
  base: string,
  bound: string,
  write: (line: string) => void,
  now: () => number,
): Logger {
  const at = (value: number): LogFn => {
    if (value < threshold) return noop;
    return (first: object | string, message?: string) => {
      write(`{"level":${value},"time":${now()},${base}${bound}${fields(first, message)}}\n`);
    };
  };
  return {
    level,
    debug: at(LOG_LEVELS.debug!),
    info: at(LOG_LEVELS.info!),
    warn: at(LOG_LEVELS.warn!),
    error: at(LOG_LEVELS.error!),
    child(bindings) {
      return jsonLogger(level, threshold, base, bound + members(bindings), write, now);
    },
  };
}

const noop: LogFn = () => {};

/** `,"key":value…,"msg":"…"` for one call. */
function fields(first: object | string, message: string | undefined): string {
  if (typeof first === 'string') return `,"msg":${JSON.stringify(first)}`;
  if (first instanceof Error) {
    return `,"err":${JSON.stringify(serializeError(first))},"msg":${JSON.stringify(message ?? first.message)}`;
  }
  const text = members(first as Record<string, unknown>);
  return message === undefined ? text : `${text},"msg":${JSON.stringify(message)}`;
}

function members(object: Record<string, unknown>): string {
  let text = '';
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (value === undefined) continue;
    const json = JSON.stringify(value instanceof Error ? serializeError(value) : value, safeReplacer());
    if (json !== undefined) text += `,${JSON.stringify(key)}:${json}`;
  }
  return text;
}

function serializeError(error: Error): Record<string, unknown> {
  const serialized: Record<string, unknown> = {
    type: error.constructor?.name ?? 'Error',
    message: error.message,
    stack: error.stack,
  };
  for (const key of Object.keys(error)) {
    const value = (error as unknown as Record<string, unknown>)[key];
    serialized[key] = value instanceof Error ? serializeError(value) : value;
  }
  if (error.cause instanceof Error) serialized.cause = serializeError(error.cause);
  return serialized;
}

/** Breaks cycles and renders bigints, so a log call never throws. */
function safeReplacer(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) return serializeError(value);
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}
