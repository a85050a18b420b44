import { COLON, CR, equalsLower, FIELD_CHAR, HTAB, LF, latin1, SP, TCHAR } from './chars.ts';
import { HTTP_PARSE_ERRORS, HttpParseError, type HttpParseErrorCode } from './errors.ts';
import { classifyHeader, HeaderKind } from './header-kind.ts';

export interface HeadParserOptions {
  /** Largest head accepted, start line to the final CRLF inclusive (default 64 KiB); larger → 431. */
  maxHeadSize?: number;
  /** Most header fields accepted (default 100); more → 431. */
  maxHeaders?: number;
}

export const DEFAULT_MAX_HEAD_SIZE = 64 * 1024;
export const DEFAULT_MAX_HEADERS = 100;

/** Ints per header in `headers`: nameStart, nameEnd, valueStart, valueEnd, kind. */
export const HEADER_STRIDE = 5;

/**
 * The parsed head as offsets into `buf`: the head is buf[base, base + length); every offset below is
 * relative to `base`. Header i is `headers[5i .. 5i+4]` = nameStart, nameEnd, valueStart, valueEnd
 * (value without surrounding whitespace) and kind (HeaderKind bits); its line runs from nameStart to
 * the next header's nameStart (or `headersEnd`).
 */
export interface HeadView {
  readonly buf: Buffer;
  readonly base: number;
  readonly length: number;
  /** End of the start line including its CRLF = start of the first header line. */
  readonly startLineEnd: number;
  /** Start of the final empty line (the CRLF that ends the head). */
  readonly headersEnd: number;
  readonly headers: Int32Array;
  readonly headerCount: number;
  /** OR of all header kinds, for quick "is there anything to drop?" tests. */
  readonly kindMask: number;
  /** Lowercased options of the Connection header(s) other than close / keep-alive / upgrade. */
  readonly connectionOptions: readonly string[] | null;
  readonly version: '1.0' | '1.1';
  readonly keepAlive: boolean;
  /** Content-Length value, -1 when absent. */
  readonly contentLength: number;
  headerName(i: number): string;
  headerValue(i: number): string;
  /** Value of the first header with this name (case-insensitive), or undefined. */
  getHeader(name: string): string | undefined;
  /** All headers as [name, value] pairs, in order (allocates; for tests, logs and slow paths). */
  headerList(): Array<[string, string]>;
  /** The raw head bytes (a view, not a copy). */
  rawHead(): Buffer;
}

/**
 * Index of the first header at or after `from` named `lowerName` (lowercase), or -1: compared in
 * place in the head's bytes (A-Z folded), lengths first, so nothing is allocated.
 */
export function findHeader(
  head: Pick<HeadView, 'buf' | 'base' | 'headers' | 'headerCount'>,
  lowerName: string,
  from = 0,
): number {
  const h = head.headers;
  const n = head.headerCount;
  const buf = head.buf;
  const base = head.base;
  const length = lowerName.length;
  for (let i = from; i < n; i++) {
    const o = i * HEADER_STRIDE;
    const start = base + h[o];
    if (base + h[o + 1] - start !== length) continue;
    let k = 0;
    while (k < length) {
      let c = buf[start + k];
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c !== lowerName.charCodeAt(k)) break;
      k++;
    }
    if (k === length) return i;
  }
  return -1;
}

const EMPTY = Buffer.alloc(0);

/** Header-section states; start-line states are the subclasses' and stay below FIRST_HEADER_STATE. */
const FIRST_HEADER_STATE = 16;
const H_LINE = 16;
const H_NAME = 17;
const H_OWS = 18;
const H_VALUE = 19;
const H_VALUE_LF = 20;
const H_END_LF = 21;
const H_DONE = 22;
const H_NAME_WS = 23;

const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;
const CONN_UPGRADE = 4;

/**
 * The shared machinery of the request and response parsers: buffering of heads that arrive in pieces,
 * a resumable byte-level scan of the header section (no rescanning, so a head fed one byte at a time
 * costs what it costs in one piece), header offsets in a reused Int32Array and the framing headers.
 * One parser serves every message of a connection; its fields describe the last completed head until
 * the next `execute` call.
 */
export abstract class HeadParser implements HeadView {
  buf: Buffer = EMPTY;
  base = 0;
  length = 0;
  startLineEnd = 0;
  headersEnd = 0;
  readonly headers: Int32Array;
  headerCount = 0;
  kindMask = 0;
  connectionOptions: string[] | null = null;
  version: '1.0' | '1.1' = '1.1';
  keepAlive = true;
  contentLength = -1;

  protected readonly maxHeadSize: number;
  protected readonly maxHeaders: number;
  /** 0 to use each code's own status; 502 for the response parser. */
  protected readonly errorStatus: number;
  protected error: HttpParseError | null = null;

  protected state = 0;
  /** Scan position relative to the head start, saved when input runs out. */
  protected pos = 0;
  /** Start-line marks (relative), the subclass's to use. */
  protected m0 = 0;
  protected m1 = 0;
  protected m2 = 0;
  protected m3 = 0;
  private nameStart = 0;
  private nameEnd = 0;
  private valueStart = 0;

  private pending: Buffer | null = null;
  private pendingLen = 0;

  protected chunked = false;
  protected teCount = 0;
  protected clCount = 0;
  protected connFlags = 0;
  protected upgradeIndex = -1;

  constructor(options: HeadParserOptions, errorStatus: number) {
    this.maxHeadSize = options.maxHeadSize ?? DEFAULT_MAX_HEAD_SIZE;
    this.maxHeaders = options.maxHeaders ?? DEFAULT_MAX_HEADERS;
    this.headers = new Int32Array(this.maxHeaders * HEADER_STRIDE);
    this.errorStatus = errorStatus;
  }

  /**
   * Feeds bytes buf[offset..]. Returns the offset in `buf` just past the head once it is complete
   * (what follows is body or the next message), or -1 when every byte was taken and more are needed.
   * Throws HttpParseError on anything the strict rules refuse; after that the parser stays failed.
   */
  protected feed(buf: Buffer, offset: number): number {
    if (this.error !== null) throw this.error;
    if (this.state === H_DONE) this.reset();
    const len = buf.length;
    if (this.pendingLen === 0) {
      const start = this.preamble(buf, offset, len);
      if (start < 0 || start >= len) return -1;
      const limit = Math.min(len, start + this.maxHeadSize);
      const headLength = this.scan(buf, start, limit);
      if (headLength >= 0) {
        this.finish(buf, start, headLength);
        return start + headLength;
      }
      if (limit < len) this.fail('HEAD_TOO_LARGE');
      this.stash(buf, start, len);
      return -1;
    }
    const available = len - offset;
    const room = this.maxHeadSize - this.pendingLen;
    const take = Math.min(available, room);
    const before = this.pendingLen;
    this.stash(buf, offset, offset + take);
    const pending = this.pending!;
    const headLength = this.scan(pending, 0, this.pendingLen);
    if (headLength >= 0) {
      this.pending = null;
      this.pendingLen = 0;
      this.finish(pending, 0, headLength);
      return offset + headLength - before;
    }
    if (take < available) this.fail('HEAD_TOO_LARGE');
    return -1;
  }

  /** Skips what may precede a head (requests: empty lines); returns where the head starts, or -1. */
  protected preamble(_buf: Buffer, offset: number, _len: number): number {
    return offset;
  }

  /** Scans the start line from `p` (absolute); returns the absolute end of its CRLF, or -1 to wait. */
  protected abstract startLine(buf: Buffer, base: number, p: number, end: number): number;

  /** Called once the head is complete; sets the derived fields and checks the whole-head rules. */
  protected abstract complete(): void;

  /** Header kinds that need subclass-specific handling (called for every classified header). */
  protected abstract special(kind: number, buf: Buffer, valueStart: number, valueEnd: number): void;

  protected reset(): void {
    this.state = 0;
    this.pos = 0;
    this.headerCount = 0;
    this.kindMask = 0;
    this.connectionOptions = null;
    this.contentLength = -1;
    this.chunked = false;
    this.teCount = 0;
    this.clCount = 0;
    this.connFlags = 0;
    this.upgradeIndex = -1;
  }

  /** Records and throws the error (public for the start-line helpers below; not for callers). */
  fail(code: HttpParseErrorCode): never {
    this.error = new HttpParseError(code, this.errorStatus || HTTP_PARSE_ERRORS[code].status);
    throw this.error;
  }

  private stash(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    const need = this.pendingLen + n;
    let pending = this.pending;
    if (pending === null || pending.length < need) {
      const size = Math.min(
        Math.max(need, 1024, pending === null ? 0 : pending.length * 2),
        this.maxHeadSize,
      );
      const grown = Buffer.allocUnsafe(size);
      if (pending !== null) pending.copy(grown, 0, 0, this.pendingLen);
      this.pending = pending = grown;
    }
    buf.copy(pending, this.pendingLen, from, to);
    this.pendingLen = need;
  }

  /** Resumable scan of buf[base + pos, end); returns the head length when complete, else -1. */
  private scan(buf: Buffer, base: number, end: number): number {
    let p = base + this.pos;
    if (this.state < FIRST_HEADER_STATE) {
      p = this.startLine(buf, base, p, end);
      if (p < 0) return -1;
      this.startLineEnd = p - base;
      this.state = H_LINE;
    }
    let state = this.state;
    for (;;) {
      if (state === H_LINE) {
        if (p >= end) break;
        const c = buf[p];
        if (c === CR) {
          p++;
          state = H_END_LF;
        } else {
          if (c === SP || c === HTAB) this.fail('OBS_FOLD');
          this.nameStart = p - base;
          state = H_NAME;
        }
      }
      if (state === H_NAME) {
        while (p < end && TCHAR[buf[p]] === 1) p++;
        if (p >= end) break;
        const c = buf[p];
        if (c === SP || c === HTAB) {
          state = H_NAME_WS;
        } else {
          if (c !== COLON || p - base === this.nameStart) this.badName(c);
          this.nameEnd = p - base;
          p++;
          state = H_OWS;
        }
      }
      if (state === H_NAME_WS) {
        // Only to tell "Name : value" (a classic smuggling variant) from other broken names.
        while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
        if (p >= end) break;
        this.fail(buf[p] === COLON ? 'WHITESPACE_BEFORE_COLON' : 'INVALID_HEADER_NAME');
      }
      if (state === H_OWS) {
        while (p < end && (buf[p] === SP || buf[p] === HTAB)) p++;
        if (p >= end) break;
        this.valueStart = p - base;
        state = H_VALUE;
      }
      if (state === H_VALUE) {
        while (p < end && FIELD_CHAR[buf[p]] === 1) p++;
        if (p >= end) break;
        const c = buf[p];
        if (c !== CR) this.fail(c === LF ? 'BARE_LF' : c === 0 ? 'NUL_BYTE' : 'INVALID_HEADER_VALUE');
        p++;
        state = H_VALUE_LF;
      }
      if (state === H_VALUE_LF) {
        if (p >= end) break;
        if (buf[p] !== LF) this.fail('BARE_CR');
        const valueStart = base + this.valueStart;
        let valueEnd = p - 1;
        while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
        this.addHeader(buf, base, base + this.nameStart, base + this.nameEnd, valueStart, valueEnd);
        p++;
        state = H_LINE;
        continue;
      }
      if (state === H_END_LF) {
        if (p >= end) break;
        if (buf[p] !== LF) this.fail('BARE_CR');
        this.state = H_DONE;
        return p + 1 - base;
      }
    }
    this.state = state;
    this.pos = p - base;
    return -1;
  }

  /** The name scan stopped at byte c, which is neither a token character, whitespace nor a valid colon. */
  private badName(c: number): never {
    if (c === 0) this.fail('NUL_BYTE');
    if (c === LF) this.fail('BARE_LF');
    this.fail('INVALID_HEADER_NAME');
  }

  private addHeader(buf: Buffer, base: number, ns: number, ne: number, vs: number, ve: number): void {
    const n = this.headerCount;
    if (n === this.maxHeaders) this.fail('TOO_MANY_HEADERS');
    const kind = classifyHeader(buf, ns, ne);
    const h = this.headers;
    const i = n * HEADER_STRIDE;
    h[i] = ns - base;
    h[i + 1] = ne - base;
    h[i + 2] = vs - base;
    h[i + 3] = ve - base;
    h[i + 4] = kind;
    this.headerCount = n + 1;
    if (kind === 0) return;
    this.kindMask |= kind;
    switch (kind) {
      case HeaderKind.ContentLength:
        this.onContentLength(buf, vs, ve);
        return;
      case HeaderKind.TransferEncoding:
        this.onTransferEncoding(buf, vs, ve);
        return;
      case HeaderKind.Connection:
        this.onConnection(buf, vs, ve);
        return;
      case HeaderKind.Upgrade:
        if (this.upgradeIndex < 0) this.upgradeIndex = n;
        return;
      default:
        this.special(kind, buf, vs, ve);
    }
  }

  private onContentLength(buf: Buffer, vs: number, ve: number): void {
    if (vs === ve) this.fail('INVALID_CONTENT_LENGTH');
    let n = 0;
    for (let i = vs; i < ve; i++) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) this.fail('INVALID_CONTENT_LENGTH');
      n = n * 10 + d;
      if (n > Number.MAX_SAFE_INTEGER) this.fail('INVALID_CONTENT_LENGTH');
    }
    if (this.clCount++ > 0) {
      this.fail(n === this.contentLength ? 'DUPLICATE_CONTENT_LENGTH' : 'CONFLICTING_CONTENT_LENGTH');
    }
    this.contentLength = n;
  }

  private onTransferEncoding(buf: Buffer, vs: number, ve: number): void {
    if (this.teCount++ > 0) this.fail('DUPLICATE_TRANSFER_ENCODING');
    if (equalsLower(buf, vs, ve, 'chunked')) {
      this.chunked = true;
      return;
    }
    // Refused either way; only the status differs: 501 for codings we do not implement applied
    // under a final chunked, 400 when the framing itself is broken (RFC 9112 §6.1, §6.3).
    const codings = latin1(buf, vs, ve)
      .split(',')
      .map((s) => s.trim().toLowerCase());
    const last = codings.length - 1;
    const wellFormed = codings.every(
      (c, i) => /^[!#$%&'*+\-.^_`|~0-9a-z]+(\s*;.*)?$/.test(c) && (i === last) === (c === 'chunked'),
    );
    this.fail(wellFormed ? 'UNSUPPORTED_TRANSFER_ENCODING' : 'INVALID_TRANSFER_ENCODING');
  }

  private onConnection(buf: Buffer, vs: number, ve: number): void {
    let i = vs;
    while (i < ve) {
      const c = buf[i];
      if (c === SP || c === HTAB || c === 0x2c) {
        i++;
        continue;
      }
      const s = i;
      while (i < ve && TCHAR[buf[i]] === 1) i++;
      if (i === s) this.fail('INVALID_CONNECTION');
      const e = i;
      while (i < ve && (buf[i] === SP || buf[i] === HTAB)) i++;
      if (i < ve && buf[i] !== 0x2c) this.fail('INVALID_CONNECTION');
      if (equalsLower(buf, s, e, 'close')) this.connFlags |= CONN_CLOSE;
      else if (equalsLower(buf, s, e, 'keep-alive')) this.connFlags |= CONN_KEEP_ALIVE;
      else if (equalsLower(buf, s, e, 'upgrade')) this.connFlags |= CONN_UPGRADE;
      else {
        const named = classifyHeader(buf, s, e);
        // Dropping a framing header as hop-by-hop would desynchronise the upstream.
        if ((named & (HeaderKind.Host | HeaderKind.ContentLength | HeaderKind.TransferEncoding)) !== 0) {
          this.fail('INVALID_CONNECTION');
        }
        if (this.connectionOptions === null) this.connectionOptions = [];
        this.connectionOptions.push(latin1(buf, s, e).toLowerCase());
      }
    }
  }

  protected get connectionClose(): boolean {
    return (this.connFlags & CONN_CLOSE) !== 0;
  }

  protected get connectionKeepAlive(): boolean {
    return (this.connFlags & CONN_KEEP_ALIVE) !== 0;
  }

  protected get connectionUpgrade(): boolean {
    return (this.connFlags & CONN_UPGRADE) !== 0;
  }

  private finish(buf: Buffer, base: number, length: number): void {
    this.buf = buf;
    this.base = base;
    this.length = length;
    this.headersEnd = length - 2;
    if (this.connectionOptions !== null) this.markConnectionOptions();
    this.complete();
  }

  /** Marks the headers named by Connection options as hop-by-hop (rare: a second pass). */
  private markConnectionOptions(): void {
    const options = this.connectionOptions!;
    const h = this.headers;
    for (let i = 0; i < this.headerCount; i++) {
      const name = this.headerName(i).toLowerCase();
      if (options.includes(name)) {
        h[i * HEADER_STRIDE + 4] |= HeaderKind.ConnectionOption;
        this.kindMask |= HeaderKind.ConnectionOption;
      }
    }
  }

  headerName(i: number): string {
    const o = i * HEADER_STRIDE;
    return latin1(this.buf, this.base + this.headers[o], this.base + this.headers[o + 1]);
  }

  headerValue(i: number): string {
    const o = i * HEADER_STRIDE;
    return latin1(this.buf, this.base + this.headers[o + 2], this.base + this.headers[o + 3]);
  }

  headerKind(i: number): number {
    return this.headers[i * HEADER_STRIDE + 4];
  }

  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.headerCount; i++) {
      if (this.headerName(i).toLowerCase() === lower) return this.headerValue(i);
    }
    return undefined;
  }

  headerList(): Array<[string, string]> {
    const list: Array<[string, string]> = [];
    for (let i = 0; i < this.headerCount; i++) list.push([this.headerName(i), this.headerValue(i)]);
    return list;
  }

  rawHead(): Buffer {
    return this.buf.subarray(this.base, this.base + this.length);
  }
}

/** Why a start-line token stopped at byte c (when c is not the expected delimiter). */
export function lineError(c: number, otherwise: HttpParseErrorCode): HttpParseErrorCode {
  if (c === 0) return 'NUL_BYTE';
  if (c === LF) return 'BARE_LF';
  // A request line cut short by CR ("GET /\r\n", HTTP/0.9 style) is a malformed line, not a bad token.
  if (c === CR && (otherwise === 'INVALID_METHOD' || otherwise === 'INVALID_TARGET')) {
    return 'INVALID_REQUEST_LINE';
  }
  return otherwise;
}

/** buf[s, e) must be `HTTP/1.0` or `HTTP/1.1`; another `HTTP/d.d` is unsupported, anything else malformed. */
export function parseVersion(
  buf: Buffer,
  s: number,
  e: number,
  parser: { fail(code: HttpParseErrorCode): never },
  malformed: HttpParseErrorCode = 'INVALID_VERSION',
): '1.0' | '1.1' {
  if (
    e - s !== 8 ||
    buf[s] !== 0x48 ||
    buf[s + 1] !== 0x54 ||
    buf[s + 2] !== 0x54 ||
    buf[s + 3] !== 0x50 ||
    buf[s + 4] !== 0x2f ||
    buf[s + 6] !== 0x2e
  ) {
    parser.fail(malformed);
  }
  const major = buf[s + 5] - 48;
  const minor = buf[s + 7] - 48;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) parser.fail(malformed);
  if (major === 1 && minor === 1) return '1.1';
  if (major === 1 && minor === 0) return '1.0';
  return parser.fail('UNSUPPORTED_VERSION');
}
