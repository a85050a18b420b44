import { describe, expect, it } from 'vitest';
import { normalizePath } from '../../../../src/proxy/routing/index.ts';

describe('normalizePath', () => {
  it('returns the target itself when there is nothing to normalise', () => {
    for (const target of ['/', '/api/items?x=../y', '/.well-known/x', '//a//b/', '/a.b/c.']) {
      expect(normalizePath(target)).toBe(target);
    }
  });

  it('removes dot segments, never above the root, and keeps the query', () => {
    expect(normalizePath('/a/b/../c?q=/../x')).toBe('/a/c?q=/../x');
    expect(normalizePath('/a/./b/.')).toBe('/a/b/');
    expect(normalizePath('/a/b/..')).toBe('/a/');
    expect(normalizePath('/..')).toBe('/');
    expect(normalizePath('/../../x')).toBe('/x');
    expect(normalizePath('/a/..?q')).toBe('/?q');
  });

  it('decodes escaped unreserved characters only', () => {
    expect(normalizePath('/%61%2D%5f%7E%2e')).toBe('/a-_~.');
    expect(normalizePath('/a/%2E%2E/b')).toBe('/b');
    expect(normalizePath('/a%2Fb/%20/%zz')).toBe('/a%2Fb/%20/%zz');
  });
});
