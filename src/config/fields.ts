/**
 * The rules of the schema's common fields (names, addresses, ports, durations, ratios) as plain
 * functions, for the proxies: a sidecar's budget is 60 MB resident and importing zod alone keeps
 * ~8 MB, so the data plane checks its options here and the zod schema (schema.ts) builds the same
 * fields from the same patterns and messages. test/unit/config/fields.test.ts holds both to the same
 * verdicts.
 */
import { type ErrorDetail, MeshError, parseDuration } from '../core/index.ts';

export const NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/i;
export const NAME_MESSAGE =
  'a service name is 1-63 letters, digits, ".", "_" or "-", starting and ending alphanumeric';
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$/;
export const ID_MESSAGE = 'an id is 1-253 letters, digits, ".", "_", ":", "@" or "-"';
export const ADDRESS_PATTERN = /^[A-Za-z0-9.:_[\]-]+$/;
export const ADDRESS_MESSAGE = 'must be a host name or an IP address';
export const ADDRESS_MAX = 253;
export const RATIO_MESSAGE = 'must be from 0 to 1';
export const DURATION_MESSAGE = 'expected a duration such as 500ms or 10s, or a number of milliseconds';
export const ACCESS_LOG_MESSAGE = 'expected off, stdout or a file path';
export const ACCESS_LOG_NUL_MESSAGE = 'a file path cannot contain NUL';
export const TAG_MAX = 128;
export const TAGS_MAX = 64;
export const METADATA_KEY_MAX = 128;
export const METADATA_VALUE_MAX = 1024;

/** A field's value was refused; `path` is below the field (e.g. the index in a list). */
export class FieldProblem extends Error {
  constructor(
    message: string,
    readonly path: readonly (string | number)[] = [],
  ) {
    super(message);
  }
}

/** Checks one value and returns what the setting becomes, or throws a FieldProblem. */
export type Rule<T> = (value: unknown) => T;

export function text(
  options: { min?: number; max?: number; pattern?: RegExp; message?: string } = {},
): Rule<string> {
  const { min = 0, max = Number.POSITIVE_INFINITY, pattern, message } = options;
  return (value) => {
    if (typeof value !== 'string') throw new FieldProblem('expected a string');
    if (value.length < min)
      throw new FieldProblem(message ?? (min === 1 ? 'required' : `at least ${min} characters`));
    if (value.length > max) throw new FieldProblem(message ?? `at most ${max} characters`);
    if (pattern !== undefined && !pattern.test(value)) throw new FieldProblem(message ?? 'invalid');
    return value;
  };
}

export function integer(
  min: number,
  max: number,
  rangeMessage = `must be from ${min} to ${max}`,
): Rule<number> {
  return (value) => {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new FieldProblem('expected a number');
    if (!Number.isInteger(value)) throw new FieldProblem('must be an integer');
    if (value < min || value > max) throw new FieldProblem(rangeMessage);
    return value;
  };
}

export function boolean(): Rule<boolean> {
  return (value) => {
    if (typeof value !== 'boolean') throw new FieldProblem('expected true or false');
    return value;
  };
}

/** `500ms`, `10s`, `5m`, `1h`, `250us`, or a number of milliseconds; the setting is milliseconds. */
export function durationMs(
  options: { minMs?: number; minMessage?: string; maxMs?: number; maxMessage?: string } = {},
): Rule<number> {
  return (value) => {
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new FieldProblem(DURATION_MESSAGE);
    }
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (error) {
      throw new FieldProblem((error as Error).message);
    }
    if (options.minMs !== undefined && ms < options.minMs) {
      throw new FieldProblem(options.minMessage ?? `at least ${options.minMs}ms`);
    }
    if (options.maxMs !== undefined && ms > options.maxMs) {
      throw new FieldProblem(options.maxMessage ?? `at most ${options.maxMs}ms`);
    }
    return ms;
  };
}

export const serviceNameRule: Rule<string> = text({ pattern: NAME_PATTERN, message: NAME_MESSAGE });
export const instanceIdRule: Rule<string> = text({ pattern: ID_PATTERN, message: ID_MESSAGE });

export const addressRule: Rule<string> = (value) => {
  if (typeof value !== 'string') throw new FieldProblem('expected a string');
  if (value.length === 0) throw new FieldProblem('required');
  if (value.length > ADDRESS_MAX) throw new FieldProblem(`at most ${ADDRESS_MAX} characters`);
  if (!ADDRESS_PATTERN.test(value)) throw new FieldProblem(ADDRESS_MESSAGE);
  return value;
};

/** A port to connect to. */
export const portRule: Rule<number> = integer(1, 65535, 'ports are 1-65535');
/** A port to listen on: 0 lets the OS pick. */
export const listenPortRule: Rule<number> = integer(0, 65535, 'ports are 0-65535');

export const sampleRatioRule: Rule<number> = (value) => {
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new FieldProblem('expected a number from 0 to 1');
  if (value < 0 || value > 1) throw new FieldProblem(RATIO_MESSAGE);
  return value;
};

/** The busy-poll window of `trellis proxy`, `trellis gateway` and `trellis start`'s gateway. */
export const DEFAULT_BUSY_POLL_MS = 0.25;

/**
 * A proxy's busy-poll window (src/proxy/engine/reply-poller.ts), e.g. 250us; 0 turns it off. At most
 * 10 ms: a reply due later than that is not worth a core's time.
 */
export const busyPollRule: Rule<number> = durationMs({
  maxMs: 10,
  maxMessage: 'at most 10ms: a reply due later is not worth polling for',
});

/** `off`, `stdout`, or a file path (trimmed). */
export const accessLogRule: Rule<string> = (value) => {
  if (typeof value !== 'string') throw new FieldProblem('expected a string');
  const trimmed = value.trim();
  if (trimmed.length === 0) throw new FieldProblem(ACCESS_LOG_MESSAGE);
  if (trimmed.includes('\0')) throw new FieldProblem(ACCESS_LOG_NUL_MESSAGE);
  return trimmed;
};

export const tagsRule: Rule<string[]> = (value) => {
  if (!Array.isArray(value)) throw new FieldProblem('expected a list of strings');
  if (value.length > TAGS_MAX) throw new FieldProblem(`at most ${TAGS_MAX} tags`);
  const tag = text({ min: 1, max: TAG_MAX });
  return value.map((item, index) => within(index, () => tag(item)));
};

export const metadataRule: Rule<Record<string, string>> = (value) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldProblem('expected an object of strings');
  }
  const key = text({ max: METADATA_KEY_MAX });
  const entry = text({ max: METADATA_VALUE_MAX });
  const result: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    within(name, () => key(name));
    result[name] = within(name, () => entry(item));
  }
  return result;
};

/** An http:// or https:// URL. */
export function httpUrlRule(message: string): Rule<string> {
  return (value) => {
    if (typeof value !== 'string') throw new FieldProblem('expected a string');
    let protocol: string;
    try {
      protocol = new URL(value).protocol;
    } catch {
      throw new FieldProblem(message);
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw new FieldProblem(message);
    return value;
  };
}

function within<T>(segment: string | number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof FieldProblem) throw new FieldProblem(error.message, [segment, ...error.path]);
    throw error;
  }
}

/**
 * Reads the fields of an options object one by one, collecting every problem; `done()` throws
 * BAD_REQUEST `invalid <what>: <path>: <message>` with one detail per bad field, as `validate()`
 * does for zod schemas. Keys not asked for are ignored.
 */
export class OptionReader {
  private readonly details: ErrorDetail[] = [];

  constructor(
    private readonly input: object,
    private readonly what: string,
  ) {}

  /** The field checked by `rule`, or `fallback` when it is undefined. */
  field<T>(key: string, rule: Rule<T>, fallback: T): T;
  field<T>(key: string, rule: Rule<T>): T | undefined;
  field<T>(key: string, rule: Rule<T>, fallback?: T): T | undefined {
    const value = this.value(key);
    if (value === undefined) return fallback;
    try {
      return rule(value);
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      this.problem([key, ...error.path].join('.'), error.message);
      return fallback;
    }
  }

  /** The field checked by `rule`; a problem when it is missing (then `done()` throws). */
  required<T>(key: string, rule: Rule<T>): T {
    if (this.value(key) === undefined) {
      this.problem(key, 'required');
      return undefined as T;
    }
    return this.field(key, rule) as T;
  }

  /** Records a problem found across fields. */
  problem(path: string, message: string): void {
    this.details.push({ path, message });
  }

  private value(key: string): unknown {
    return (this.input as Record<string, unknown>)[key];
  }

  /** Whether a problem was recorded (cross-field checks may skip then). */
  get failed(): boolean {
    return this.details.length > 0;
  }

  done(): void {
    if (this.details.length === 0) return;
    const first = this.details[0]!;
    throw new MeshError('BAD_REQUEST', `invalid ${this.what}: ${first.path}: ${first.message}`, {
      details: this.details,
    });
  }
}
