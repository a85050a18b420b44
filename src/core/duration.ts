import { MeshError } from './errors.ts';

const UNIT_MS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)$/;

/**
 * Parses `250us`, `250ms`, `10s`, `1.5m`, `2h` or a bare number of milliseconds, into milliseconds:
 * whole ones, or whole microseconds for a duration given in microseconds.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0)
      throw new MeshError('BAD_REQUEST', `invalid duration: ${input}`);
    return input;
  }
  const match = DURATION.exec(input.trim());
  if (!match) throw new MeshError('BAD_REQUEST', `invalid duration "${input}": expected e.g. 500ms, 10s, 5m`);
  const unitMs = UNIT_MS[match[2]!]!;
  const ms = Number(match[1]) * unitMs;
  // Rounded to whole units of the smallest kind given: microseconds, or milliseconds.
  return unitMs < 1 ? Math.round(ms * 1000) / 1000 : Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  if (Number.isInteger(ms)) return `${ms}ms`;
  return `${Math.round(ms * 1000)}us`;
}
