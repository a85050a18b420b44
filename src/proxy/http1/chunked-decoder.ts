import type { BodyDecoder, BodyProgress } from './body-decoder.ts';
import { CR, FIELD_CHAR, HEX_VALUE, HTAB, LF, SP, TCHAR } from './chars.ts';
import { HTTP_PARSE_ERRORS, HttpParseError, type HttpParseErrorCode } from './errors.ts';

export interface ChunkedDecoderOptions {
  /** Bytes of chunk extensions allowed on one chunk-size line (default 4096). */
  maxExtensionLength?: number;
  /** Bytes of the trailer section, trailer fields and final CRLF included (default 16 KiB). */
  maxTrailerSize?: number;
  /** Status carried by errors: each code's own (400) for requests, 502 for responses. */
  errorStatus?: number;
  /** Called with each run of chunk data, for callers that need the decoded bytes. */
  onData?: (buf: Buffer, start: number, end: number) => void;
  /**
   * Called with each run of the trailer section's bytes (its field lines, each ending in CRLF, and
   * the final CRLF), already checked, for callers that pass the trailer fields on.
   */
  onTrailerBytes?: (buf: Buffer, start: number, end: number) => void;
}

const SIZE_START = 0;
const SIZE = 1;
const SIZE_BWS = 2;
const EXT_PRE_NAME = 3;
const EXT_NAME = 4;
const EXT_POST_NAME = 5;
const EXT_PRE_VALUE = 6;
const EXT_TOKEN = 7;
const EXT_QUOTED = 8;
const EXT_QUOTED_ESCAPE = 9;
const EXT_AFTER_QUOTED = 10;
const EXT_POST_VALUE = 11;
const SIZE_LF = 12;
const DATA = 13;
const DATA_CR = 14;
const DATA_LF = 15;
const TRAILER_LINE = 16;
const TRAILER_NAME = 17;
const TRAILER_VALUE = 18;
const TRAILER_LF = 19;
const END_LF = 20;
const DONE = 21;
const FAILED = 22;

const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * Framing tracker for a chunked body (RFC 9112 §7.1) that never copies: the proxy forwards the raw
 * chunked bytes as they are and learns from `consume` how many belong to this message and when it
 * (last chunk, trailers, final CRLF) ends. Strict: chunk sizes are 1–16 hex digits and at most
 * 2^53-1 (no whitespace, sign or `0x`), extensions must be `;name[=token|quoted-string]` with
 * optional whitespace around `;` and `=` and are bounded, chunk data must be followed by CRLF, and
 * trailers follow the header rules (no obs-fold, bare CR/LF, NUL or CTLs) within a size bound.
 */
export class ChunkedDecoder implements BodyDecoder {
  private state = SIZE_START;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private extensionLength = 0;
  private trailerBytes = 0;
  private error: HttpParseError | null = null;
  private readonly maxExtensionLength: number;
  private readonly maxTrailerSize: number;
  private readonly errorStatus: number;
  private readonly onData: ((buf: Buffer, start: number, end: number) => void) | undefined;
  private readonly onTrailerBytes: ((buf: Buffer, start: number, end: number) => void) | undefined;

  constructor(options: ChunkedDecoderOptions = {}) {
    this.maxExtensionLength = options.maxExtensionLength ?? 4096;
    this.maxTrailerSize = options.maxTrailerSize ?? 16 * 1024;
    this.errorStatus = options.errorStatus ?? 0;
    this.onData = options.onData;
    this.onTrailerBytes = options.onTrailerBytes;
  }

  get done(): boolean {
    return this.state === DONE;
  }

  reset(): void {
    this.state = SIZE_START;
    this.error = null;
    this.size = 0;
    this.digits = 0;
    this.remaining = 0;
    this.extensionLength = 0;
    this.trailerBytes = 0;
  }

  consume(buf: Buffer, offset = 0, end = buf.length): BodyProgress {
    if (this.error !== null) throw this.error;
    let p = offset;
    let state = this.state;
    // Where this call's share of the trailer section starts (-1: not in it yet).
    let trailerFrom = state >= TRAILER_LINE && state < DONE ? p : -1;
    while (p < end && state !== DONE) {
      if (state === DATA) {
        const available = end - p;
        const n = Math.min(available, this.remaining);
        if (this.onData !== undefined) this.onData(buf, p, p + n);
        p += n;
        this.remaining -= n;
        if (this.remaining === 0) state = DATA_CR;
        continue;
      }
      const c = buf[p];
      switch (state) {
        case SIZE_START: {
          const v = HEX_VALUE[c];
          if (v === 255) this.fail(byteError(c, 'INVALID_CHUNK_SIZE'));
          this.size = v;
          this.digits = 1;
          this.extensionLength = 0;
          state = SIZE;
          break;
        }
        case SIZE: {
          const v = HEX_VALUE[c];
          if (v !== 255) {
            this.size = this.size * 16 + v;
            if (this.size > Number.MAX_SAFE_INTEGER) this.fail('CHUNK_SIZE_OVERFLOW');
            if (++this.digits > 16) this.fail('INVALID_CHUNK_SIZE');
          } else if (c === CR) state = SIZE_LF;
          else if (c === SEMI) state = EXT_PRE_NAME;
          else if (c === SP || c === HTAB) state = SIZE_BWS;
          else this.fail(byteError(c, 'INVALID_CHUNK_SIZE'));
          break;
        }
        case SIZE_BWS:
          if (c === SEMI) state = EXT_PRE_NAME;
          else if (c !== SP && c !== HTAB) this.fail(byteError(c, 'INVALID_CHUNK_SIZE'));
          break;
        case EXT_PRE_NAME:
          if (TCHAR[c] === 1) state = EXT_NAME;
          else if (c !== SP && c !== HTAB) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_NAME:
          if (TCHAR[c] === 1) break;
          if (c === CR) state = SIZE_LF;
          else if (c === SEMI) state = EXT_PRE_NAME;
          else if (c === EQUALS) state = EXT_PRE_VALUE;
          else if (c === SP || c === HTAB) state = EXT_POST_NAME;
          else this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_POST_NAME:
          if (c === SEMI) state = EXT_PRE_NAME;
          else if (c === EQUALS) state = EXT_PRE_VALUE;
          else if (c !== SP && c !== HTAB) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_PRE_VALUE:
          if (c === DQUOTE) state = EXT_QUOTED;
          else if (TCHAR[c] === 1) state = EXT_TOKEN;
          else if (c !== SP && c !== HTAB) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_TOKEN:
          if (TCHAR[c] === 1) break;
          if (c === CR) state = SIZE_LF;
          else if (c === SEMI) state = EXT_PRE_NAME;
          else if (c === SP || c === HTAB) state = EXT_POST_VALUE;
          else this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_QUOTED:
          if (c === DQUOTE) state = EXT_AFTER_QUOTED;
          else if (c === BACKSLASH) state = EXT_QUOTED_ESCAPE;
          else if (FIELD_CHAR[c] !== 1) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_QUOTED_ESCAPE:
          if (FIELD_CHAR[c] !== 1) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          state = EXT_QUOTED;
          break;
        case EXT_AFTER_QUOTED:
          if (c === CR) state = SIZE_LF;
          else if (c === SEMI) state = EXT_PRE_NAME;
          else if (c === SP || c === HTAB) state = EXT_POST_VALUE;
          else this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case EXT_POST_VALUE:
          if (c === SEMI) state = EXT_PRE_NAME;
          else if (c !== SP && c !== HTAB) this.fail(byteError(c, 'INVALID_CHUNK_EXTENSION'));
          break;
        case SIZE_LF:
          if (c !== LF) this.fail('BARE_CR');
          if (this.size === 0) {
            state = TRAILER_LINE;
            trailerFrom = p + 1;
          } else {
            this.remaining = this.size;
            state = DATA;
          }
          break;
        case DATA_CR:
          if (c !== CR) this.fail('MISSING_CHUNK_CRLF');
          state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== LF) this.fail('MISSING_CHUNK_CRLF');
          state = SIZE_START;
          break;
        case TRAILER_LINE:
          if (c === CR) state = END_LF;
          else if (TCHAR[c] === 1) state = TRAILER_NAME;
          else if (c === SP || c === HTAB) this.fail('OBS_FOLD');
          else this.fail(byteError(c, 'INVALID_HEADER_NAME'));
          break;
        case TRAILER_NAME:
          if (c === COLON) state = TRAILER_VALUE;
          else if (TCHAR[c] !== 1) this.fail(byteError(c, 'INVALID_HEADER_NAME'));
          break;
        case TRAILER_VALUE:
          if (c === CR) state = TRAILER_LF;
          else if (FIELD_CHAR[c] !== 1) this.fail(byteError(c, 'INVALID_HEADER_VALUE'));
          break;
        case TRAILER_LF:
          if (c !== LF) this.fail('BARE_CR');
          state = TRAILER_LINE;
          break;
        case END_LF:
          if (c !== LF) this.fail('BARE_CR');
          state = DONE;
          break;
      }
      p++;
      if (state >= SIZE_BWS && state <= EXT_POST_VALUE) {
        if (++this.extensionLength > this.maxExtensionLength) this.fail('CHUNK_EXTENSION_TOO_LONG');
      } else if (state >= TRAILER_LINE && state <= DONE) {
        if (++this.trailerBytes > this.maxTrailerSize) this.fail('TRAILERS_TOO_LARGE');
      }
    }
    this.state = state;
    if (this.onTrailerBytes !== undefined && trailerFrom >= 0 && p > trailerFrom) {
      this.onTrailerBytes(buf, trailerFrom, p);
    }
    return { consumed: p - offset, done: state === DONE };
  }

  private fail(code: HttpParseErrorCode): never {
    this.state = FAILED;
    this.error = new HttpParseError(code, this.errorStatus || HTTP_PARSE_ERRORS[code].status);
    throw this.error;
  }
}

function byteError(c: number, otherwise: HttpParseErrorCode): HttpParseErrorCode {
  if (c === 0) return 'NUL_BYTE';
  if (c === LF) return 'BARE_LF';
  return otherwise;
}
