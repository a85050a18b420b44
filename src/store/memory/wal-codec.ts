import { crc32 } from 'node:zlib';

/**
 * One write-ahead-log record is one atomic change of the store: the ops of a put, a delete, a lease
 * grant, or a lease revocation/expiry with the deletes of its keys. `revision` is the store revision
 * after the record is applied; records without key ops (grant, revoke of a lease with no keys) carry
 * the unchanged revision.
 */
export type WalOp =
  | { op: 'put'; key: string; value: string; lease?: string }
  | { op: 'delete'; key: string }
  | { op: 'grant'; lease: string; ttl: number }
  | { op: 'revoke'; lease: string };

export interface WalRecord {
  revision: number;
  ops: WalOp[];
}

/** Frame: u32 LE payload length, u32 LE CRC-32 of the payload, then the payload (UTF-8 JSON). */
const HEADER_BYTES = 8;
/** No single record comes near this; a larger length field means the header itself is garbage. */
const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;

export function encodeRecord(record: WalRecord): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, HEADER_BYTES);
  return frame;
}

export interface DecodeResult {
  records: WalRecord[];
  /** Bytes from the start of the buffer that hold whole, valid records. */
  validBytes: number;
  /** Why decoding stopped before the end of the buffer, if it did. */
  problem?: string;
}

/** Decodes records until the end of the buffer or the first torn or corrupt frame. */
export function decodeRecords(buffer: Buffer): DecodeResult {
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (buffer.length - offset < HEADER_BYTES) {
      return { records, validBytes: offset, problem: `torn header at byte ${offset}` };
    }
    const length = buffer.readUInt32LE(offset);
    const checksum = buffer.readUInt32LE(offset + 4);
    if (length === 0 || length > MAX_PAYLOAD_BYTES) {
      return { records, validBytes: offset, problem: `bad record length ${length} at byte ${offset}` };
    }
    const end = offset + HEADER_BYTES + length;
    if (end > buffer.length) {
      return { records, validBytes: offset, problem: `torn record at byte ${offset}` };
    }
    const payload = buffer.subarray(offset + HEADER_BYTES, end);
    if (crc32(payload) !== checksum) {
      return { records, validBytes: offset, problem: `checksum mismatch at byte ${offset}` };
    }
    let record: WalRecord;
    try {
      record = JSON.parse(payload.toString('utf8')) as WalRecord;
    } catch {
      return { records, validBytes: offset, problem: `unparsable record at byte ${offset}` };
    }
    records.push(record);
    offset = end;
  }
  return { records, validBytes: offset };
}
