/**
 * A protobuf wire-format reader (https://protobuf.dev/programming-guides/encoding/): varints,
 * fixed 32/64-bit values and length-delimited fields, enough to walk OTLP messages. It checks every
 * length against the buffer, so a truncated or hostile payload fails with a ProtoError, never reads
 * out of bounds.
 */

export const WireType = { Varint: 0, Fixed64: 1, Bytes: 2, StartGroup: 3, EndGroup: 4, Fixed32: 5 } as const;

export class ProtoError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'ProtoError';
  }
}

const TWO_POW_32 = 2 ** 32;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ProtoReader {
  pos: number;
  readonly end: number;
  /** The high and low 32 bits of the last varint read by `varint64Parts`. */
  private high = 0;
  private low = 0;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  more(): boolean {
    return this.pos < this.end;
  }

  /** Reads a field key; returns `field << 3 | wireType`. */
  key(): number {
    const key = this.varint();
    if (key >>> 3 === 0) throw new ProtoError('field number 0', this.pos);
    return key;
  }

  /** A varint as a number; exact up to 2^53, which every length, enum and count here is below. */
  varint(): number {
    this.varint64Parts();
    return this.high * TWO_POW_32 + this.low;
  }

  /** An int64 varint (two's complement): a number when it fits a double exactly, else a bigint. */
  int64(): number | bigint {
    this.varint64Parts();
    const { high, low } = this;
    if (high < 0x200000) return high * TWO_POW_32 + low;
    const value = BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  fixed32(): number {
    const at = this.take(4);
    const b = this.buf;
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
  }

  fixed64(): bigint {
    const low = this.fixed32();
    const high = this.fixed32();
    return (BigInt(high) << 32n) | BigInt(low);
  }

  double(): number {
    const at = this.take(8);
    return new DataView(this.buf.buffer, this.buf.byteOffset + at, 8).getFloat64(0, true);
  }

  /** A length-delimited field's bytes (a view into the buffer, not a copy). */
  bytes(): Uint8Array {
    const length = this.varint();
    const at = this.take(length);
    return this.buf.subarray(at, at + length);
  }

  string(): string {
    const bytes = this.bytes();
    try {
      return utf8.decode(bytes);
    } catch {
      throw new ProtoError('a string field is not valid UTF-8', this.pos - bytes.length);
    }
  }

  /** A reader over an embedded message. */
  message(): ProtoReader {
    const length = this.varint();
    const at = this.take(length);
    return new ProtoReader(this.buf, at, at + length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint64Parts();
        return;
      case WireType.Fixed64:
        this.take(8);
        return;
      case WireType.Bytes:
        this.take(this.varint());
        return;
      case WireType.Fixed32:
        this.take(4);
        return;
      default:
        // Groups are deprecated and absent from OTLP; anything else is not protobuf.
        throw new ProtoError(`unsupported wire type ${wireType}`, this.pos);
    }
  }

  private take(length: number): number {
    const at = this.pos;
    if (length < 0 || at + length > this.end) {
      throw new ProtoError(`truncated: ${length} bytes wanted, ${this.end - at} left`, at);
    }
    this.pos = at + length;
    return at;
  }

  private varint64Parts(): void {
    const b = this.buf;
    let low = 0;
    let high = 0;
    let shift = 0;
    let pos = this.pos;
    for (let i = 0; ; i++) {
      if (pos >= this.end) throw new ProtoError('truncated varint', pos);
      if (i === 10) throw new ProtoError('varint longer than 10 bytes', pos);
      const byte = b[pos++]!;
      const bits = byte & 0x7f;
      if (shift < 28) {
        low |= bits << shift;
      } else if (shift === 28) {
        low |= (bits & 0x0f) << 28;
        high = bits >> 4;
      } else {
        high |= bits << (shift - 32);
      }
      shift += 7;
      if ((byte & 0x80) === 0) break;
    }
    this.pos = pos;
    this.low = low >>> 0;
    this.high = high >>> 0;
  }
}
