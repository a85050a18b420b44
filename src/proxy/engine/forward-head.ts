import { DEADLINE_HEADER } from '../../core/index.ts';
import {
  HeaderKind,
  type HeaderLine,
  type RequestHead,
  type RequestHeadEdits,
  type ResponseHeadEdits,
  writeRequestHead,
} from '../http1/index.ts';
import { type AbsoluteTarget, splitAbsolute } from '../routing/index.ts';
import type { TracePropagation } from './trace-hooks.ts';

const VIA = Buffer.from('via: 1.1 trellis\r\n', 'latin1');
/** Via names the protocol the proxy received (RFC 9110 §7.6.3). */
const VIA_10 = Buffer.from('via: 1.0 trellis\r\n', 'latin1');
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

/** forwardedRules() bit: the route rewrites the Host, so the client's goes out as `x-forwarded-host`. */
export const FORWARD_HOST = 1;
/** forwardedRules() bit: a trusted client's `x-forwarded-proto` is kept rather than set to `http`. */
export const KEEP_PROTO = 2;

/**
 * The host the client asked for: the authority of an absolute-form target, whose Host header a proxy
 * ignores (RFC 9112 §3.2.2), else the Host header (undefined for an HTTP/1.0 request without one).
 * `scratch` is the caller's; only an absolute-form target allocates.
 */
export function clientHost(head: RequestHead, scratch: AbsoluteTarget): string | undefined {
  if (head.target.charCodeAt(0) === 47 /* / */) return head.host;
  return splitAbsolute(head.target, scratch) ? scratch.authority : head.host;
}

/**
 * The x-forwarded rules of both head writers (HTTP/1.1 and h2c upstreams), as FORWARD_HOST and
 * KEEP_PROTO bits: `host` is the route's rewritten Host, `original` the host the client asked for
 * (clientHost()), `trust` whether the client's forwarding headers are believed (an untrusted client's
 * x-forwarded-proto and -host never pass).
 */
export function forwardedRules(
  head: RequestHead,
  host: string | undefined,
  original: string | undefined,
  trust: boolean,
): number {
  const kinds = head.kindMask;
  let rules = 0;
  if (
    host !== undefined &&
    original !== undefined &&
    host !== original &&
    (!trust || (kinds & HeaderKind.XForwardedHost) === 0)
  ) {
    rules |= FORWARD_HOST;
  }
  if (trust && (kinds & HeaderKind.XForwardedProto) !== 0) rules |= KEEP_PROTO;
  return rules;
}

/** What an untrusted client's forwarding headers could claim about the edge and are not passed on. */
const UNTRUSTED = HeaderKind.XForwardedHost | HeaderKind.XForwardedPort | HeaderKind.Forwarded;

/**
 * The HeaderKind bits of the client's forwarding headers that forwardedRules() replace or refuse: an
 * untrusted client's x-forwarded-host, x-forwarded-port and forwarded (RFC 7239) go, as Envoy's edge
 * replaces x-forwarded-proto; its x-forwarded-for is appended to, never believed.
 */
export function forwardedDrop(rules: number, trust: boolean): number {
  let drop = 0;
  if ((rules & KEEP_PROTO) === 0) drop |= HeaderKind.XForwardedProto;
  if (!trust) drop |= UNTRUSTED;
  else if ((rules & FORWARD_HOST) !== 0) drop |= HeaderKind.XForwardedHost;
  return drop;
}

/**
 * Builds the head sent upstream, reusing one edits object and one line array per connection: hop-by-hop
 * headers removed (by the codec), `x-forwarded-for` appended to, `x-forwarded-proto` (and
 * `x-forwarded-host` when the Host is rewritten) set, `via: 1.1 trellis` (`1.0` for an HTTP/1.0
 * request), and `x-trellis-deadline` replaced by the effective deadline.
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
  private readonly absolute: AbsoluteTarget = { authority: '', path: '' };

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
    const trust = this.trustForwarded;
    const finite = deadline !== Number.POSITIVE_INFINITY;
    const original = host === undefined ? head.host : clientHost(head, this.absolute);
    const rules = forwardedRules(head, host, original, trust);
    let drop = forwardedDrop(rules, trust);
    if (head.xForwardedFor === undefined && rules === 0 && head.version === '1.1') {
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
      if ((rules & KEEP_PROTO) === 0) append.push(XFP_HTTP);
      if ((rules & FORWARD_HOST) !== 0) append.push(`x-forwarded-host: ${original}\r\n`);
      append.push(head.version === '1.1' ? VIA : VIA_10);
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
