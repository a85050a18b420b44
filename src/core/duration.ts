import { MeshError } from './errors.ts';

const UNIT_MS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)$/;

/**
 * Parses `250us`, `250ms`, `10s`, `1.5m`, `2h` or a bare number of milliseconds, into milliseconds:
 * whole ones, or whole microseconds for a duration given in microseconds.
 */
export function parseDuration(input: string | number): number {
  return rounded(exactMs(input));
}

/** What a timeout of less than 1 ms is told; 0 stays "no timeout". */
export const TIMEOUT_MESSAGE = 'a timeout is 0 (none) or at least 1ms';

/**
 * Parses a timeout as `parseDuration` does, where 0 means none: a positive duration below 1 ms
 * (`500us`, `0.4ms`, 0.5) is refused with BAD_REQUEST rather than taken, since rounded to whole
 * milliseconds it would silently turn the timeout off and no timer keeps time below 1 ms anyway.
 */
export function parseTimeout(input: string | number): number {
  const { ms, unitMs } = exactMs(input);
  if (ms > 0 && ms < 1)
    throw new MeshError('BAD_REQUEST', `${TIMEOUT_MESSAGE}, got ${JSON.stringify(input)}`);
  return rounded({ ms, unitMs });
}

function exactMs(input: string | number): { ms: number; unitMs: number } {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0)
      throw new MeshError('BAD_REQUEST', `invalid duration: ${input}`);
    return { ms: input, unitMs: 0 };
  }
  const match = DURATION.exec(input.trim());
  if (!match) throw new MeshError('BAD_REQUEST', `invalid duration "${input}": expected e.g. 500ms, 10s, 5m`);
  const unitMs = UNIT_MS[match[2]!]!;
  return { ms: Number(match[1]) * unitMs, unitMs };
}

/** Rounded to whole units of the smallest kind given: microseconds, or milliseconds (numbers as they are). */
function rounded({ ms, unitMs }: { ms: number; unitMs: number }): number {
  if (unitMs === 0) return ms;
  return unitMs < 1 ? Math.round(ms * 1000) / 1000 : Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1000)}us`;
}
