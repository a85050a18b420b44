import { writeLatin1 } from './chars.ts';
import { HEADER_STRIDE, type HeadView } from './head-parser.ts';
import { HeaderKind, REQUEST_HOP_BY_HOP, RESPONSE_HOP_BY_HOP } from './header-kind.ts';
import type { RequestHead } from './request-parser.ts';
import type { ResponseHead } from './response-parser.ts';

/** A header line to add: a precomputed Buffer or a latin1 string, either ending in CRLF. */
export type HeaderLine = Buffer | string;

interface CommonEdits {
  /** HeaderKind bits to drop besides the hop-by-hop ones, e.g. XForwardedFor when appending a combined one. */
  drop?: number;
  /** Further header names to remove, lowercase (configuration-time lists; costs a name compare per header). */
  remove?: readonly string[];
  /** Complete header lines appended after the kept ones, e.g. `x-forwarded-proto: https\r\n`. */
  append?: readonly HeaderLine[];
}

export interface RequestHeadEdits extends CommonEdits {
  /** Replacement request-target, e.g. with a route prefix stripped (ASCII, from trusted configuration). */
  target?: string;
  /** Replacement Host value (also adds Host to an HTTP/1.0 request without one); written first. */
  host?: string;
  /** Forward an upgrade: keep the Upgrade header and send `connection: upgrade`. */
  upgrade?: boolean;
}

export interface ResponseHeadEdits extends CommonEdits {
  /**
   * The Connection sent to the client (default keep-alive; a 101 always gets `upgrade`). Send `close`
   * when the response is close-delimited or the client asked to close, and close after the body.
   */
  connection?: 'keep-alive' | 'close';
}

const CONNECTION_KEEP_ALIVE = Buffer.from('connection: keep-alive\r\n', 'latin1');
const CONNECTION_CLOSE = Buffer.from('connection: close\r\n', 'latin1');
const CONNECTION_UPGRADE = Buffer.from('connection: upgrade\r\n', 'latin1');
/** A 426 names the protocols to upgrade to; its sender must list `upgrade` in Connection (RFC 9110 §7.8). */
const CONNECTION_KEEP_ALIVE_OFFER = Buffer.from('connection: keep-alive, upgrade\r\n', 'latin1');
const CONNECTION_CLOSE_OFFER = Buffer.from('connection: close, upgrade\r\n', 'latin1');
/** `te: trailers` goes on regenerated, with the `te` option its sender must put in Connection. */
const TE_KEEP_ALIVE = Buffer.from('te: trailers\r\nconnection: keep-alive, te\r\n', 'latin1');
const TE_UPGRADE = Buffer.from('te: trailers\r\nconnection: upgrade, te\r\n', 'latin1');
const VERSION_CRLF = ' HTTP/1.1\r\n';
const NO_EDITS: RequestHeadEdits & ResponseHeadEdits = {};

/**
 * The head to send upstream, as one Buffer: the request line as `HTTP/1.1` (with `target` if given),
 * `host` if given, every header except the hop-by-hop ones (Connection and the headers it names,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade unless `upgrade`, Proxy-Authorization) and the
 * `drop` / `remove` ones, then `append`, then `connection: keep-alive` (or `upgrade`), preceded by
 * `te: trailers` and with the `te` option when the client's TE accepts trailers (the proxy relays
 * them). Transfer-Encoding and Content-Length are kept: the body is forwarded with its framing as
 * received.
 */
export function writeRequestHead(head: RequestHead, edits: RequestHeadEdits = NO_EDITS): Buffer {
  const { buf, base } = head;
  let dropMask = REQUEST_HOP_BY_HOP | (edits.drop ?? 0);
  if (edits.host !== undefined) dropMask |= HeaderKind.Host;
  if (edits.upgrade === true) dropMask &= ~HeaderKind.Upgrade;
  const target = edits.target;
  const copyLine = target === undefined && head.version === '1.1';
  const lineLength = copyLine
    ? head.startLineEnd
    : (target === undefined ? head.targetEnd : head.targetStart + target.length) + VERSION_CRLF.length;
  const hostLength = edits.host === undefined ? 0 : edits.host.length + 8;
  const connection =
    edits.upgrade === true
      ? head.teTrailers
        ? TE_UPGRADE
        : CONNECTION_UPGRADE
      : head.teTrailers
        ? TE_KEEP_ALIVE
        : CONNECTION_KEEP_ALIVE;
  const size =
    lineLength +
    hostLength +
    keptSize(head, dropMask, edits.remove) +
    appendSize(edits.append) +
    connection.length +
    2;

  const out = Buffer.allocUnsafe(size);
  let pos: number;
  if (copyLine && edits.host === undefined) {
    // The start line and the kept headers after it go out in one copy.
    pos = copyKept(head, dropMask, edits.remove, out, 0, 0);
  } else if (copyLine) {
    pos = buf.copy(out, 0, base, base + head.startLineEnd);
  } else {
    pos = buf.copy(out, 0, base, base + (target === undefined ? head.targetEnd : head.targetStart));
    if (target !== undefined) pos += writeLatin1(out, target, pos);
    pos += writeLatin1(out, VERSION_CRLF, pos);
  }
  if (edits.host !== undefined) pos += writeLatin1(out, `host: ${edits.host}\r\n`, pos);
  if (!copyLine || edits.host !== undefined) pos = copyKept(head, dropMask, edits.remove, out, pos, -1);
  pos = writeAppend(edits.append, out, pos);
  pos += connection.copy(out, pos);
  out[pos] = 13;
  out[pos + 1] = 10;
  return out;
}

/**
 * The head to send back to the client, as one Buffer: the status line as `HTTP/1.1`, every header
 * except the hop-by-hop ones (Connection and the headers it names, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Proxy-Authenticate, Upgrade unless 101 or 426) and the `drop` / `remove` ones, then `append`,
 * then the Connection header.
 */
export function writeResponseHead(head: ResponseHead, edits: ResponseHeadEdits = NO_EDITS): Buffer {
  const { buf, base } = head;
  const upgrading = head.status === 101;
  const offering = head.status === 426 && (head.kindMask & HeaderKind.Upgrade) !== 0;
  let dropMask = RESPONSE_HOP_BY_HOP | (edits.drop ?? 0);
  if (upgrading || offering) dropMask &= ~HeaderKind.Upgrade;
  const closing = edits.connection === 'close';
  const connection = upgrading
    ? CONNECTION_UPGRADE
    : offering
      ? closing
        ? CONNECTION_CLOSE_OFFER
        : CONNECTION_KEEP_ALIVE_OFFER
      : closing
        ? CONNECTION_CLOSE
        : CONNECTION_KEEP_ALIVE;
  const size =
    head.startLineEnd +
    keptSize(head, dropMask, edits.remove) +
    appendSize(edits.append) +
    connection.length +
    2;

  const out = Buffer.allocUnsafe(size);
  let pos: number;
  if (head.version === '1.1') {
    pos = copyKept(head, dropMask, edits.remove, out, 0, 0);
  } else {
    pos = writeLatin1(out, 'HTTP/1.1', 0);
    pos += buf.copy(out, pos, base + 8, base + head.startLineEnd);
    pos = copyKept(head, dropMask, edits.remove, out, pos, -1);
  }
  pos = writeAppend(edits.append, out, pos);
  pos += connection.copy(out, pos);
  out[pos] = 13;
  out[pos + 1] = 10;
  return out;
}

function dropped(
  head: HeadView,
  i: number,
  dropMask: number,
  remove: readonly string[] | undefined,
): boolean {
  const h = head.headers;
  const o = i * HEADER_STRIDE;
  if ((h[o + 4] & dropMask) !== 0) return true;
  if (remove === undefined) return false;
  for (const name of remove) {
    if (nameIs(head.buf, head.base + h[o], head.base + h[o + 1], name)) return true;
  }
  return false;
}

/** Bytes of the header lines that survive; the whole block when nothing is dropped. */
function keptSize(head: HeadView, dropMask: number, remove: readonly string[] | undefined): number {
  if ((head.kindMask & dropMask) === 0 && remove === undefined) return head.headersEnd - head.startLineEnd;
  const h = head.headers;
  const n = head.headerCount;
  let size = 0;
  for (let i = 0; i < n; i++) {
    if (dropped(head, i, dropMask, remove)) continue;
    const end = i + 1 < n ? h[(i + 1) * HEADER_STRIDE] : head.headersEnd;
    size += end - h[i * HEADER_STRIDE];
  }
  return size;
}

/**
 * Copies the surviving header lines as runs of adjacent kept lines (one copy when nothing is dropped).
 * `firstRun` 0 makes the start line (head offset 0) the beginning of the first run, so it goes out in the
 * same copy; -1 when the caller has written the start line itself.
 */
function copyKept(
  head: HeadView,
  dropMask: number,
  remove: readonly string[] | undefined,
  out: Buffer,
  pos: number,
  firstRun: 0 | -1,
): number {
  const { buf, base } = head;
  if ((head.kindMask & dropMask) === 0 && remove === undefined) {
    const from = firstRun === 0 ? 0 : head.startLineEnd;
    return pos + buf.copy(out, pos, base + from, base + head.headersEnd);
  }
  const h = head.headers;
  const n = head.headerCount;
  let runStart: number = firstRun === 0 ? 0 : -1;
  for (let i = 0; i < n; i++) {
    const lineStart = h[i * HEADER_STRIDE];
    if (dropped(head, i, dropMask, remove)) {
      if (runStart >= 0) {
        pos += buf.copy(out, pos, base + runStart, base + lineStart);
        runStart = -1;
      }
    } else if (runStart < 0) {
      runStart = lineStart;
    }
  }
  if (runStart >= 0) pos += buf.copy(out, pos, base + runStart, base + head.headersEnd);
  return pos;
}

function appendSize(lines: readonly HeaderLine[] | undefined): number {
  if (lines === undefined) return 0;
  let size = 0;
  for (const line of lines) size += line.length;
  return size;
}

function writeAppend(lines: readonly HeaderLine[] | undefined, out: Buffer, pos: number): number {
  if (lines === undefined) return pos;
  for (const line of lines)
    pos += typeof line === 'string' ? writeLatin1(out, line, pos) : line.copy(out, pos);
  return pos;
}

/** buf[s, e) equals the lowercase `name`, ASCII case-insensitively. */
function nameIs(buf: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = buf[s + i];
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}
