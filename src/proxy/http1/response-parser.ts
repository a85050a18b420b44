import { CR, FIELD_CHAR, LF, latin1, SP, TARGET_CHAR } from './chars.ts';
import { UPSTREAM_PARSE_STATUS } from './errors.ts';
import { HeadParser, type HeadParserOptions, type HeadView, lineError, parseVersion } from './head-parser.ts';

/**
 * How the response body is delimited: no body (HEAD request, 1xx, 204, 304, 2xx to CONNECT), by
 * Content-Length, chunked, or by the upstream closing the connection.
 */
export type ResponseFraming = 'none' | 'content-length' | 'chunked' | 'close';

export interface ResponseHead extends HeadView {
  readonly status: number;
  /** The reason phrase (allocates a string; the proxy normally copies the status line as bytes). */
  readonly reason: string;
  readonly framing: ResponseFraming;
  /** The Upgrade header's value on a 101 Switching Protocols. */
  readonly upgrade: string | undefined;
}

const S_VERSION = 0;
const S_STATUS = 1;
const S_REASON = 2;
const S_LF = 3;

/**
 * Incremental, strict parser of upstream response heads. Same header rules as requests (bare LF/CR,
 * NUL, obs-fold, CTLs, repeated or conflicting Content-Length, CL with TE, TE other than `chunked`,
 * TE in HTTP/1.0 are refused); every error carries status 502. No leading empty lines are allowed.
 */
export class ResponseParser extends HeadParser implements ResponseHead {
  status = 0;
  framing: ResponseFraming = 'none';
  upgrade: string | undefined = undefined;
  private requestMethod = 'GET';

  constructor(options: HeadParserOptions = {}) {
    super(options, UPSTREAM_PARSE_STATUS);
  }

  /**
   * Feeds bytes buf[offset..] of the response to a request made with `requestMethod` (HEAD and
   * CONNECT change the framing). Returns the offset just past the head, or -1 when more bytes are
   * needed; see RequestParser.execute. After a 1xx other than 101, call again for the final response.
   */
  execute(buf: Buffer, offset: number, requestMethod: string): number {
    this.requestMethod = requestMethod;
    return this.feed(buf, offset);
  }

  get reason(): string {
    return latin1(this.buf, this.base + this.m2, this.base + this.m3);
  }

  protected special(): void {}

  protected startLine(buf: Buffer, base: number, p: number, end: number): number {
    const state = this.state;
    if (state === S_VERSION) {
      while (p < end && p - base < 9 && TARGET_CHAR[buf[p]] === 1) p++;
      if (p - base > 8) this.fail('INVALID_STATUS_LINE');
      if (p >= end) return this.wait(S_VERSION, p - base);
      const c = buf[p];
      if (c !== SP) this.fail(lineError(c, 'INVALID_STATUS_LINE'));
      this.version = parseVersion(buf, base, p, this, 'INVALID_STATUS_LINE');
      p++;
      this.m0 = p - base;
    }
    if (state <= S_STATUS) {
      const s = base + this.m0;
      while (p < end && p - s < 3 && buf[p] >= 0x30 && buf[p] <= 0x39) p++;
      if (p >= end) return this.wait(S_STATUS, p - base);
      const c = buf[p];
      if (p - s < 3 || (c !== SP && c !== CR)) this.fail(lineError(c, 'INVALID_STATUS_LINE'));
      this.status = (buf[s] - 48) * 100 + (buf[s + 1] - 48) * 10 + (buf[s + 2] - 48);
      if (this.status < 100) this.fail('INVALID_STATUS_LINE');
      // "HTTP/1.1 200\r\n" (no SP, no reason) is common enough to accept.
      if (c === SP) p++;
      this.m2 = p - base;
    }
    if (state <= S_REASON) {
      while (p < end && FIELD_CHAR[buf[p]] === 1) p++;
      if (p >= end) return this.wait(S_REASON, p - base);
      const c = buf[p];
      if (c !== CR) this.fail(lineError(c, 'INVALID_STATUS_LINE'));
      this.m3 = p - base;
      p++;
    }
    // S_LF
    if (p >= end) return this.wait(S_LF, p - base);
    if (buf[p] !== LF) this.fail('BARE_CR');
    return p + 1;
  }

  private wait(state: number, pos: number): number {
    this.state = state;
    this.pos = pos;
    return -1;
  }

  protected complete(): void {
    const status = this.status;
    const http11 = this.version === '1.1';
    if (this.chunked) {
      if (this.clCount > 0) this.fail('CL_TE_CONFLICT');
      if (!http11) this.fail('TRANSFER_ENCODING_HTTP10');
    }
    const method = this.requestMethod;
    const noBody =
      method === 'HEAD' ||
      status < 200 ||
      status === 204 ||
      status === 304 ||
      (method === 'CONNECT' && status < 300);
    if (noBody) this.framing = 'none';
    else if (this.chunked) this.framing = 'chunked';
    else if (this.clCount > 0) this.framing = 'content-length';
    else this.framing = 'close';
    this.upgrade = status === 101 && this.upgradeIndex >= 0 ? this.headerValue(this.upgradeIndex) : undefined;
    this.keepAlive =
      this.framing !== 'close' &&
      status !== 101 &&
      !(method === 'CONNECT' && status >= 200 && status < 300) &&
      !this.connectionClose &&
      (http11 || this.connectionKeepAlive);
  }

  /** A plain copy of the head's fields (allocates). */
  snapshot(): ResponseSnapshot {
    return {
      status: this.status,
      reason: this.reason,
      version: this.version,
      headers: this.headerList(),
      framing: this.framing,
      contentLength: this.contentLength,
      keepAlive: this.keepAlive,
      upgrade: this.upgrade,
    };
  }
}

export interface ResponseSnapshot {
  status: number;
  reason: string;
  version: '1.0' | '1.1';
  headers: Array<[string, string]>;
  framing: ResponseFraming;
  contentLength: number;
  keepAlive: boolean;
  upgrade: string | undefined;
}

export function createResponseParser(options: HeadParserOptions = {}): ResponseParser {
  return new ResponseParser(options);
}
