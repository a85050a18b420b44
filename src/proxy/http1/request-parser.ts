import { CR, equalsLower, HOST_CHAR, HTAB, LF, latin1, SP, TARGET_CHAR, TCHAR } from './chars.ts';
import { HeadParser, type HeadParserOptions, type HeadView, lineError, parseVersion } from './head-parser.ts';
import { HeaderKind } from './header-kind.ts';

/** How the request body is delimited: not at all (no body), by Content-Length, or chunked. */
export type RequestFraming = 'none' | 'content-length' | 'chunked';

export interface RequestHead extends HeadView {
  readonly method: string;
  /** The request-target as sent (origin-form, absolute-form, authority-form or `*`). */
  readonly target: string;
  /** Offsets of the request-target within the head (relative to `base`). */
  readonly targetStart: number;
  readonly targetEnd: number;
  readonly framing: RequestFraming;
  /**
   * The Host header's value (undefined when absent, only possible in HTTP/1.0). For an absolute-form
   * target the Host header is still reported as sent; RFC 9112 §3.2.2 says the target's authority
   * wins, and the proxy decides which it routes on.
   */
  readonly host: string | undefined;
  /** The Upgrade header's value when the request asks to upgrade (HTTP/1.1, `Connection: upgrade`). */
  readonly upgrade: string | undefined;
  /** `Expect: 100-continue` in an HTTP/1.1 request. */
  readonly expectContinue: boolean;
  /** An HTTP/1.1 request whose TE lists `trailers` (the one TE a proxy passes on, RFC 9110 §10.1.4). */
  readonly teTrailers: boolean;
  /** Every X-Forwarded-For value, joined with ", ". */
  readonly xForwardedFor: string | undefined;
  /** The first traceparent value. */
  readonly traceparent: string | undefined;
}

export interface RequestParserOptions extends HeadParserOptions {
  /** Empty lines (CRLF) ignored before a request line, RFC 9112 §2.2 (default 8); more → 400. */
  maxLeadingEmptyLines?: number;
}

const R_METHOD = 0;
const R_TARGET = 1;
const R_VERSION = 2;
const R_VERSION_LF = 3;

/**
 * Incremental, strict HTTP/1.x request-head parser; see `execute`. Rules that are refused (each with
 * its HttpParseError code): bare LF or CR, NUL, obs-fold, whitespace before a colon, non-token
 * method or header names, CTLs in values, spaces/CTLs/non-ASCII in the target, versions other than
 * HTTP/1.0 and 1.1 (505), heads over the size or header-count limit (431), missing or repeated Host
 * in HTTP/1.1, any repeated Content-Length (even with equal values: simpler and what llhttp does),
 * Content-Length with Transfer-Encoding, Transfer-Encoding other than exactly `chunked` (501 when
 * other codings precede a final chunked, 400 otherwise), Transfer-Encoding in HTTP/1.0, and a
 * Connection header naming Host, Content-Length or Transfer-Encoding. Up to `maxLeadingEmptyLines`
 * CRLFs before the request line are skipped.
 */
export class RequestParser extends HeadParser implements RequestHead {
  method = '';
  target = '';
  targetStart = 0;
  targetEnd = 0;
  framing: RequestFraming = 'none';
  host: string | undefined = undefined;
  upgrade: string | undefined = undefined;
  expectContinue = false;
  teTrailers = false;
  xForwardedFor: string | undefined = undefined;
  traceparent: string | undefined = undefined;

  private readonly maxLeadingEmptyLines: number;
  private emptyLines = 0;
  private sawCR = false;
  private hostCount = 0;
  private expect100 = false;
  private trailersAccepted = false;

  constructor(options: RequestParserOptions = {}) {
    super(options, 0);
    this.maxLeadingEmptyLines = options.maxLeadingEmptyLines ?? 8;
  }

  /**
   * Feeds bytes buf[offset..]. Returns the offset in `buf` just past the head once it is complete
   * (what follows is body bytes or the next pipelined request), or -1 when every byte was taken and
   * more are needed. The parser's fields then describe that head until the next call; `buf` is the
   * caller's buffer when the head arrived in one piece (do not modify it), else a private copy.
   * Throws HttpParseError; a failed parser keeps throwing the same error.
   */
  execute(buf: Buffer, offset = 0): number {
    return this.feed(buf, offset);
  }

  protected override reset(): void {
    super.reset();
    this.emptyLines = 0;
    this.hostCount = 0;
    this.host = undefined;
    this.upgrade = undefined;
    this.expect100 = false;
    this.trailersAccepted = false;
    this.xForwardedFor = undefined;
    this.traceparent = undefined;
  }

  protected override preamble(buf: Buffer, offset: number, len: number): number {
    let p = offset;
    if (this.sawCR) {
      if (p >= len) return -1;
      if (buf[p] !== LF) this.fail('BARE_CR');
      this.sawCR = false;
      p++;
    }
    while (p < len && buf[p] === CR) {
      if (++this.emptyLines > this.maxLeadingEmptyLines) this.fail('LEADING_EMPTY_LINES');
      if (p + 1 >= len) {
        this.sawCR = true;
        return -1;
      }
      if (buf[p + 1] !== LF) this.fail('BARE_CR');
      p += 2;
    }
    return p;
  }

  protected startLine(buf: Buffer, base: number, p: number, end: number): number {
    const state = this.state;
    if (state === R_METHOD) {
      while (p < end && TCHAR[buf[p]] === 1) p++;
      if (p >= end) return this.wait(R_METHOD, p - base);
      const c = buf[p];
      if (c !== SP || p === base) {
        this.fail(p === base && c === SP ? 'INVALID_REQUEST_LINE' : lineError(c, 'INVALID_METHOD'));
      }
      this.m0 = p - base;
      p++;
      this.m1 = p - base;
    }
    if (state <= R_TARGET) {
      while (p < end && TARGET_CHAR[buf[p]] === 1) p++;
      if (p >= end) return this.wait(R_TARGET, p - base);
      const c = buf[p];
      if (c !== SP) this.fail(lineError(c, 'INVALID_TARGET'));
      if (p - base === this.m1) this.fail('INVALID_REQUEST_LINE');
      this.m2 = p - base;
      p++;
      this.m3 = p - base;
    }
    if (state <= R_VERSION) {
      const vs = base + this.m3;
      while (p < end && p - vs < 9 && TARGET_CHAR[buf[p]] === 1) p++;
      if (p - vs > 8) this.fail('INVALID_VERSION');
      if (p >= end) return this.wait(R_VERSION, p - base);
      const c = buf[p];
      if (c !== CR) this.fail(c === SP ? 'INVALID_REQUEST_LINE' : lineError(c, 'INVALID_VERSION'));
      this.version = parseVersion(buf, vs, p, this);
      p++;
    }
    // R_VERSION_LF
    if (p >= end) return this.wait(R_VERSION_LF, p - base);
    if (buf[p] !== LF) this.fail('BARE_CR');
    return p + 1;
  }

  private wait(state: number, pos: number): number {
    this.state = state;
    this.pos = pos;
    return -1;
  }

  protected special(kind: number, buf: Buffer, vs: number, ve: number): void {
    switch (kind) {
      case HeaderKind.Host:
        if (this.hostCount++ > 0) this.fail('DUPLICATE_HOST');
        for (let i = vs; i < ve; i++) if (HOST_CHAR[buf[i]] !== 1) this.fail('INVALID_HOST');
        this.host = latin1(buf, vs, ve);
        return;
      case HeaderKind.Expect:
        if (equalsLower(buf, vs, ve, '100-continue')) this.expect100 = true;
        return;
      case HeaderKind.TE:
        if (listsTrailers(buf, vs, ve)) this.trailersAccepted = true;
        return;
      case HeaderKind.XForwardedFor: {
        const v = latin1(buf, vs, ve);
        this.xForwardedFor = this.xForwardedFor === undefined ? v : `${this.xForwardedFor}, ${v}`;
        return;
      }
      case HeaderKind.Traceparent:
        if (this.traceparent === undefined) this.traceparent = latin1(buf, vs, ve);
        return;
      default:
    }
  }

  protected complete(): void {
    const buf = this.buf;
    const base = this.base;
    const http11 = this.version === '1.1';
    this.method = internMethod(buf, base, base + this.m0);
    this.targetStart = this.m1;
    this.targetEnd = this.m2;
    this.target = latin1(buf, base + this.m1, base + this.m2);
    if (http11 && this.hostCount === 0) this.fail('MISSING_HOST');
    if (this.chunked) {
      if (this.clCount > 0) this.fail('CL_TE_CONFLICT');
      if (!http11) this.fail('TRANSFER_ENCODING_HTTP10');
      this.framing = 'chunked';
    } else {
      this.framing = this.clCount > 0 ? 'content-length' : 'none';
    }
    this.keepAlive = !this.connectionClose && (http11 || this.connectionKeepAlive);
    this.upgrade =
      http11 && this.connectionUpgrade && this.upgradeIndex >= 0
        ? this.headerValue(this.upgradeIndex)
        : undefined;
    this.expectContinue = http11 && this.expect100;
    this.teTrailers = http11 && this.trailersAccepted;
  }

  /** A plain copy of the head's fields (allocates; for tests, logs and keeping a head past the next request). */
  snapshot(): RequestSnapshot {
    return {
      method: this.method,
      target: this.target,
      version: this.version,
      headers: this.headerList(),
      framing: this.framing,
      contentLength: this.contentLength,
      keepAlive: this.keepAlive,
      upgrade: this.upgrade,
      expectContinue: this.expectContinue,
      host: this.host,
    };
  }
}

export interface RequestSnapshot {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  headers: Array<[string, string]>;
  framing: RequestFraming;
  contentLength: number;
  keepAlive: boolean;
  upgrade: string | undefined;
  expectContinue: boolean;
  host: string | undefined;
}

export function createRequestParser(options: RequestParserOptions = {}): RequestParser {
  return new RequestParser(options);
}

/** Whether the TE value buf[vs, ve) has the member `trailers` (any case, parameters allowed). */
function listsTrailers(buf: Buffer, vs: number, ve: number): boolean {
  let i = vs;
  while (i < ve) {
    while (i < ve && (buf[i] === SP || buf[i] === HTAB || buf[i] === 0x2c)) i++;
    const s = i;
    while (i < ve && TCHAR[buf[i]] === 1) i++;
    if (equalsLower(buf, s, i, 'trailers')) {
      let j = i;
      while (j < ve && (buf[j] === SP || buf[j] === HTAB)) j++;
      if (j === ve || buf[j] === 0x2c || buf[j] === 0x3b) return true;
    }
    // On past the member's parameters (a comma in a quoted one only starts the next member early).
    while (i < ve && buf[i] !== 0x2c) i++;
  }
  return false;
}

const METHODS = ['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'TRACE', 'DELETE', 'OPTIONS', 'CONNECT'];

/** The method as a string, without allocating for the common ones (methods are case-sensitive). */
function internMethod(buf: Buffer, s: number, e: number): string {
  const n = e - s;
  outer: for (const m of METHODS) {
    if (m.length !== n) continue;
    for (let i = 0; i < n; i++) if (buf[s + i] !== m.charCodeAt(i)) continue outer;
    return m;
  }
  return latin1(buf, s, e);
}
