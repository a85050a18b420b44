import { createEndpoint, type Endpoint } from '../../../../src/core/index.ts';

export function makeEndpoints(count: number, weights: number[] = []): Endpoint[] {
  return Array.from({ length: count }, (_, i) =>
    createEndpoint({ id: `e${i}`, address: `10.0.0.${i + 1}`, port: 8080, weight: weights[i] ?? 100 }),
  );
}

export function tally(picked: readonly (Endpoint | undefined)[]): Map<string, number> {
  return countIds(picked.map((endpoint) => endpoint?.id ?? 'none'));
}

export function countIds(ids: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Longest run of the same endpoint in a row, counting the wrap from the end back to the start. */
export function longestRun(sequence: readonly string[]): number {
  let longest = 0;
  let run = 0;
  const doubled = [...sequence, ...sequence];
  for (let i = 0; i < doubled.length; i++) {
    run = i > 0 && doubled[i] === doubled[i - 1] ? run + 1 : 1;
    longest = Math.max(longest, Math.min(run, sequence.length));
  }
  return longest;
}
