import { describe, expect, it } from 'vitest';
import { decodeRecords, encodeRecord, type WalRecord } from '../../../src/store/memory/wal-codec.ts';

const records: WalRecord[] = [
  { revision: 1, ops: [{ op: 'put', key: 'a', value: 'héllo ✓' }] },
  { revision: 1, ops: [{ op: 'grant', lease: '42', ttl: 10 }] },
  { revision: 2, ops: [{ op: 'put', key: 'b', value: '', lease: '42' }] },
  {
    revision: 3,
    ops: [
      { op: 'delete', key: 'b' },
      { op: 'revoke', lease: '42' },
    ],
  },
];
const log = Buffer.concat(records.map(encodeRecord));

describe('WAL codec', () => {
  it('round-trips records', () => {
    expect(decodeRecords(log)).toEqual({ records, validBytes: log.length });
    expect(decodeRecords(Buffer.alloc(0))).toEqual({ records: [], validBytes: 0 });
  });

  it('stops at a torn tail wherever the log is cut, keeping every whole record before it', () => {
    const ends = records.map((_, i) => Buffer.concat(records.slice(0, i + 1).map(encodeRecord)).length);
    for (let cut = 0; cut < log.length; cut++) {
      const decoded = decodeRecords(log.subarray(0, cut));
      const whole = ends.filter((end) => end <= cut).length;
      expect(decoded.records).toEqual(records.slice(0, whole));
      expect(decoded.validBytes).toBe(whole === 0 ? 0 : ends[whole - 1]);
      if (!ends.includes(cut) && cut !== 0) expect(decoded.problem).toBeDefined();
    }
  });

  it('detects a flipped bit by its checksum', () => {
    const damaged = Buffer.from(log);
    const second = encodeRecord(records[0]).length;
    damaged[second + 12] ^= 0x01;
    const decoded = decodeRecords(damaged);
    expect(decoded.records).toEqual(records.slice(0, 1));
    expect(decoded.validBytes).toBe(second);
    expect(decoded.problem).toMatch(/checksum/);
  });

  it('rejects an absurd length field instead of waiting for bytes that never come', () => {
    const garbage = Buffer.concat([log, Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1, 2])]);
    const decoded = decodeRecords(garbage);
    expect(decoded.records).toEqual(records);
    expect(decoded.problem).toMatch(/length/);
  });
});
