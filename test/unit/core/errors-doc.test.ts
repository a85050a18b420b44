import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, isMeshError, MeshError, toMeshError } from '../../../src/core/index.ts';

/** docs/errors.md lists every code as a table row: | `CODE` | status | retryable | meaning | */
function documentedCodes(): Map<string, { status: number; retryable: boolean }> {
  const text = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { status: number; retryable: boolean }>();
  for (const match of text.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|/gm)) {
    rows.set(match[1]!, { status: Number(match[2]), retryable: match[3] === 'yes' });
  }
  return rows;
}

describe('error codes', () => {
  it('docs/errors.md documents every code with its status and retryability, and nothing else', () => {
    const documented = documentedCodes();
    const actual = new Map(
      Object.entries(ERROR_CODES).map(([code, spec]) => [
        code,
        { status: spec.status, retryable: spec.retryable },
      ]),
    );
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(actual));
  });

  it('MeshError carries code, status, retryable and details, and serialises to the API shape', () => {
    const error = new MeshError('BAD_REQUEST', 'port: ports are 1-65535', {
      details: [{ path: 'port', message: 'ports are 1-65535' }],
    });
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
    expect(isMeshError(error)).toBe(true);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: {
        code: 'BAD_REQUEST',
        message: 'port: ports are 1-65535',
        details: [{ path: 'port', message: 'ports are 1-65535' }],
      },
    });
  });

  it('toMeshError keeps MeshErrors and wraps anything else as INTERNAL with its cause', () => {
    const original = new MeshError('CONFLICT', 'lost a race');
    expect(toMeshError(original)).toBe(original);
    const cause = new TypeError('boom');
    const wrapped = toMeshError(cause);
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.cause).toBe(cause);
    expect(isMeshError({ code: 'BAD_REQUEST' })).toBe(false);
  });
});
