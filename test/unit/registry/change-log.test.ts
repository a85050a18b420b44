import { describe, expect, it } from 'vitest';
import type { MeshChange } from '../../../src/core/index.ts';
import { ChangeLog } from '../../../src/registry/change-log.ts';

const change = (revision: number, name = `s${revision}`): MeshChange => ({
  type: 'service.delete',
  revision,
  name,
});

describe('ChangeLog', () => {
  it('replays changes after a revision, in order', () => {
    const log = new ChangeLog(10, 5);
    for (const revision of [6, 7, 9]) log.push(change(revision));
    expect(log.since(5).map((c) => c.revision)).toEqual([6, 7, 9]);
    expect(log.since(7).map((c) => c.revision)).toEqual([9]);
    expect(log.since(8).map((c) => c.revision)).toEqual([9]);
    expect(log.since(9)).toEqual([]);
    expect(log.since(100)).toEqual([]);
  });

  it('throws COMPACTED before its start revision', () => {
    const log = new ChangeLog(10, 5);
    expect(() => log.since(4)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
  });

  it('forgets the oldest changes beyond its capacity', () => {
    const log = new ChangeLog(3, 0);
    for (let revision = 1; revision <= 5; revision++) log.push(change(revision));
    expect(log.floor()).toBe(2);
    expect(log.since(2).map((c) => c.revision)).toEqual([3, 4, 5]);
    expect(() => log.since(1)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
  });

  it('treats a revision as lost once any of its changes is evicted', () => {
    const log = new ChangeLog(3, 0);
    log.push(change(1, 'a'));
    log.push(change(2, 'b'));
    log.push(change(2, 'c'));
    log.push(change(3, 'd')); // evicts revision 1
    log.push(change(3, 'e')); // evicts one change of revision 2
    expect(log.floor()).toBe(2);
    expect(() => log.since(1)).toThrow(expect.objectContaining({ code: 'COMPACTED' }));
    expect(log.since(2).map((c) => (c.type === 'service.delete' ? c.name : ''))).toEqual(['d', 'e']);
  });
});
