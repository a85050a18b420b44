import { DEADLINE_HEADER } from '../../core/index.ts';
import {
  HEADER_STRIDE,
  HeaderKind,
  type HeaderLine,
  type HeadView,
  type RequestHead,
  type RequestHeadEdits,
  type ResponseHeadEdits,
  writeRequestHead,
} from '../http1/index.ts';
import type { TracePropagation } from './trace-hooks.ts';

const VIA = Buffer.from('via: 1.1 trellis\r\n', 'latin1');
const XFP_HTTP = Buffer.from('x-forwarded-proto: http\r\n', 'latin1');
const REMOVE_DEADLINE: readonly string[] = [DEADLINE_HEADER];

export const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

export const RESPONSE_KEEP_ALIVE: ResponseHeadEdits = Object.freeze({ connection: 'keep-alive' });
export const RESPONSE_CLOSE: ResponseHeadEdits = Object.freeze({ connection: 'close' });
/** For an HTTP/1.0 client: the chunked body is sent decoded and delimited by the close. */
export const RESPONSE_CLOSE_DECHUNKED: ResponseHeadEdits = Object.freeze({
  connection: 'close',
  drop: HeaderKind.TransferEncoding,
});

/**
 * Builds the head sent upstream, reusing one edits object and one line array per connection: hop-by-hop
 * headers removed (by the codec), `x-forwarded-for` appended to, `x-forwarded-proto` (and
 * `x-forwarded-host` when the Host is rewritten) set, `via: 1.1 trellis`, and `x-trellis-deadline`
 * replaced by the effective deadline.
 */
export class ForwardHeadWriter {
  private readonly edits: RequestHeadEdits = {
    target: undefined,
    host: undefined,
    upgrade: false,
    drop: 0,
    remove: undefined,
    append: undefined,
  };
  private readonly xffLine: string;
  /** `x-forwarded-for`, `x-forwarded-proto` and `via` for a request that brings none of them. */
  private readonly common: Buffer;
  /** Reused append lists for that case: without and with the deadline line (index 1). */
  private readonly commonOnly: HeaderLine[];
  private readonly commonAndDeadline: HeaderLine[];
  /**
   * `common` and a deadline line whose 13 digits (epoch ms, 2001 to 2286) are rewritten in place for
   * each request: no number-to-string conversion and one copy instead of two.
   */
  private readonly commonDeadline: Buffer;
  private readonly commonDeadlineOnly: HeaderLine[];
  /** The append list with the trace lines after it, refilled per traced request (no allocation). */
  private readonly traced: HeaderLine[] = [];

  constructor(
    private readonly clientAddress: string,
    private readonly trustForwarded: boolean,
  ) {
    this.xffLine = `x-forwarded-for: ${clientAddress}\r\n`;
    this.common = Buffer.concat([Buffer.from(this.xffLine, 'latin1'), XFP_HTTP, VIA]);
    this.commonOnly = [this.common];
    this.commonAndDeadline = [this.common, ''];
    this.commonDeadline = Buffer.concat([
      this.common,
      Buffer.from(`${DEADLINE_HEADER}: 0000000000000\r\n`, 'latin1'),
    ]);
    this.commonDeadlineOnly = [this.commonDeadline];
  }

  write(
    head: RequestHead,
    target: string | undefined,
    host: string | undefined,
    upgrade: boolean,
    deadline: number,
    deadlineHeader: boolean,
    trace: TracePropagation | null = null,
  ): Buffer {
    const edits = this.edits;
    const kinds = head.kindMask;
    const trust = this.trustForwarded;
    const finite = deadline !== Number.POSITIVE_INFINITY;
    let drop = HeaderKind.XForwardedProto;
    if (!trust) drop |= HeaderKind.XForwardedHost;
    const forwardHost =
      host !== undefined && head.host !== undefined && (!trust || (kinds & HeaderKind.XForwardedHost) === 0);
    const keepProto = trust && (kinds & HeaderKind.XForwardedProto) !== 0;
    if (head.xForwardedFor === undefined && !forwardHost && !keepProto) {
      if (!finite) {
        edits.append = this.commonOnly;
      } else if (deadline >= 1e12 && deadline < 1e13) {
        writeDigits(this.commonDeadline, this.commonDeadline.length - 2, Math.floor(deadline));
        edits.append = this.commonDeadlineOnly;
      } else {
        const deadlineLine = `${DEADLINE_HEADER}: ${Math.floor(deadline)}\r\n`;
        this.commonAndDeadline[1] = deadlineLine;
        edits.append = this.commonAndDeadline;
      }
    } else {
      const append: HeaderLine[] = [];
      if (head.xForwardedFor !== undefined) {
        drop |= HeaderKind.XForwardedFor;
        append.push(`x-forwarded-for: ${head.xForwardedFor}, ${this.clientAddress}\r\n`);
      } else {
        append.push(this.xffLine);
      }
      if (keepProto) drop &= ~HeaderKind.XForwardedProto;
      else append.push(XFP_HTTP);
      if (forwardHost) {
        drop |= HeaderKind.XForwardedHost;
        append.push(`x-forwarded-host: ${head.host}\r\n`);
      }
      append.push(VIA);
      if (finite) append.push(`${DEADLINE_HEADER}: ${Math.floor(deadline)}\r\n`);
      edits.append = append;
    }
    if (trace !== null) {
      // This hop's traceparent replaces the incoming one.
      drop |= HeaderKind.Traceparent;
      if (trace.dropTraceState) drop |= HeaderKind.Tracestate;
      const lines = this.traced;
      const append = edits.append!;
      lines.length = 0;
      for (let i = 0; i < append.length; i++) lines.push(append[i]!);
      lines.push(trace.traceparentLine);
      if (trace.traceStateLine !== null) lines.push(trace.traceStateLine);
      edits.append = lines;
    }
    edits.drop = drop;
    edits.remove = deadlineHeader ? REMOVE_DEADLINE : undefined;
    edits.target = target;
    edits.host = host;
    edits.upgrade = upgrade;
    return writeRequestHead(head, edits);
  }
}

/** Writes the decimal digits of `value` (a non-negative integer) so that the last ends before `end`. */
function writeDigits(out: Buffer, end: number, value: number): void {
  let v = value;
  let i = end;
  do {
    const q = Math.floor(v / 10);
    out[--i] = 48 + (v - q * 10);
    v = q;
  } while (v > 0);
}

/** Index of the first header named `lowerName` (lowercase), or -1; compares lengths first. */
export function findHeader(head: HeadView, lowerName: string): number {
  const h = head.headers;
  const n = head.headerCount;
  const buf = head.buf;
  const base = head.base;
  const length = lowerName.length;
  for (let i = 0; i < n; i++) {
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
