import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { DEADLINE_HEADER, HOP_BY_HOP_HEADERS } from '../../core/index.ts';
import {
  HEADER_STRIDE,
  HeaderKind,
  REQUEST_HOP_BY_HOP,
  type RequestHead,
  reasonPhrase,
} from '../http1/index.ts';
import { type AbsoluteTarget, splitAbsolute } from '../routing/index.ts';
import { clientHost, FORWARD_HOST, forwardedDrop, forwardedRules, KEEP_PROTO } from './forward-head.ts';

/**
 * Request fields that never go into an HTTP/2 request: the hop-by-hop ones (Connection and what it
 * names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization, as on the HTTP/1.1
 * path), Host (it becomes :authority), Transfer-Encoding (HTTP/2 frames the body itself) and
 * X-Forwarded-For (written anew with the client's address appended).
 */
const REQUEST_DROP =
  REQUEST_HOP_BY_HOP | HeaderKind.Host | HeaderKind.TransferEncoding | HeaderKind.XForwardedFor;

/** Response fields an HTTP/1.1 client never gets from an HTTP/2 response (most are illegal there anyway). */
const RESPONSE_DROP: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'proxy-authenticate']);

const INF = Number.POSITIVE_INFINITY;

/**
 * Maps an HTTP/1.1 request head to HTTP/2 request headers (one per client connection, like
 * ForwardHeadWriter, with the same forwarding rules): `:method`, `:scheme http`, `:authority` from the
 * rewritten host, the Host header or the service name, `:path` from the rewritten or the origin-form
 * target; names lowercased, repeated fields joined (`cookie` with `; `); the hop-by-hop fields dropped,
 * `te` kept only as `te: trailers`; `x-forwarded-for` appended to, `x-forwarded-proto` (and
 * `x-forwarded-host` when the host is rewritten) set, `via: 1.1 trellis` (`1.0` for HTTP/1.0), and
 * `x-trellis-deadline` replaced by the effective deadline.
 */
export class H2RequestHeadWriter {
  private readonly absolute: AbsoluteTarget = { authority: '', path: '' };

  constructor(
    private readonly clientAddress: string,
    private readonly trustForwarded: boolean,
  ) {}

  /**
   * `target`, `host`: the resolver's rewrites; `defaultAuthority`: the :authority of a request without
   * Host (HTTP/1.0); `deadline`: epoch ms, Infinity for none.
   */
  write(
    head: RequestHead,
    target: string | undefined,
    host: string | undefined,
    defaultAuthority: string,
    deadline: number,
  ): OutgoingHttpHeaders {
    // No prototype: a request header may be called `constructor` or `__proto__`.
    const out: OutgoingHttpHeaders = Object.create(null);
    out[':method'] = head.method;
    out[':scheme'] = 'http';
    out[':authority'] = host ?? head.host ?? defaultAuthority;
    out[':path'] = target ?? this.path(head.target);

    const trust = this.trustForwarded;
    const original = host === undefined ? head.host : clientHost(head, this.absolute);
    const rules = forwardedRules(head, host, original, trust);
    const drop = REQUEST_DROP | forwardedDrop(rules, trust);

    const h = head.headers;
    const n = head.headerCount;
    for (let i = 0; i < n; i++) {
      const kind = h[i * HEADER_STRIDE + 4];
      if ((kind & drop) !== 0) {
        if ((kind & HeaderKind.TE) !== 0 && asksForTrailers(head.headerValue(i))) out.te = 'trailers';
        continue;
      }
      const name = head.headerName(i).toLowerCase();
      // HTTP2-Settings belongs to an h2c upgrade of the client's connection, and node refuses to send it.
      if (name === DEADLINE_HEADER || name === 'http2-settings') continue;
      add(out, name, head.headerValue(i));
    }
    out['x-forwarded-for'] =
      head.xForwardedFor === undefined ? this.clientAddress : `${head.xForwardedFor}, ${this.clientAddress}`;
    if ((rules & KEEP_PROTO) === 0) out['x-forwarded-proto'] = 'http';
    if ((rules & FORWARD_HOST) !== 0) out['x-forwarded-host'] = original;
    add(out, 'via', head.version === '1.1' ? '1.1 trellis' : '1.0 trellis');
    if (deadline !== INF) out[DEADLINE_HEADER] = String(Math.floor(deadline));
    return out;
  }

  /** The :path of a request-target: origin-form and `*` as they are, absolute-form's path and query. */
  private path(target: string): string {
    const c = target.charCodeAt(0);
    if (c === 47 /* / */ || c === 42 /* * */) return target;
    return splitAbsolute(target, this.absolute) ? this.absolute.path : target;
  }
}

function add(out: OutgoingHttpHeaders, name: string, value: string): void {
  const existing = out[name];
  out[name] = existing === undefined ? value : `${existing}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/**
 * Fields that never go out as trailers: the connection-specific ones HTTP/2 forbids, and framing and
 * routing fields, which a trailer section must not carry (RFC 9110 §6.5.1).
 */
const TRAILER_DROP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  'content-length',
  'host',
  'content-type',
  'content-encoding',
  'content-range',
  'authorization',
  'cache-control',
  'expect',
  'max-forwards',
  'pragma',
  'range',
]);

/**
 * The HTTP/2 trailers for the trailer section of a chunked request (its field lines as received,
 * checked by the decoder): names lowercased, repeated fields joined, forbidden fields left out.
 */
export function h2Trailers(section: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null);
  let at = 0;
  while (at < section.length) {
    let end = section.indexOf('\r\n', at);
    if (end < 0) end = section.length;
    const colon = section.indexOf(':', at);
    if (colon > at && colon < end) {
      const name = section.slice(at, colon).toLowerCase();
      if (!TRAILER_DROP.has(name)) add(out, name, section.slice(colon + 1, end).trim());
    }
    at = end + 2;
  }
  return out;
}

/** Whether a TE value lists `trailers` (the only TE HTTP/2 allows). */
function asksForTrailers(value: string): boolean {
  for (const part of value.split(',')) {
    const semi = part.indexOf(';');
    if ((semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase() === 'trailers') return true;
  }
  return false;
}

/** How the body of an HTTP/2 response goes to the HTTP/1.1 client. */
export const BodyFraming = {
  /** No body (HEAD, 204, 304). */
  None: 0,
  /** As the upstream's content-length says. */
  Length: 1,
  /** Chunked (an HTTP/1.1 client, no content-length). */
  Chunked: 2,
  /** Delimited by the close of the connection (an HTTP/1.0 client, no content-length). */
  Close: 3,
} as const;
export type BodyFraming = (typeof BodyFraming)[keyof typeof BodyFraming];

/**
 * The HTTP/1.1 response head for an HTTP/2 response: the status line, every field of `rawHeaders`
 * (name, value, name, value…) but the pseudo-headers and the connection-specific ones, then
 * `transfer-encoding: chunked` for chunked framing and the Connection header.
 */
export function h1ResponseHead(
  status: number,
  rawHeaders: readonly string[],
  framing: BodyFraming,
  close: boolean,
): Buffer {
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n${fieldLines(rawHeaders)}`;
  if (framing === BodyFraming.Chunked) head += 'transfer-encoding: chunked\r\n';
  head += close ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
  return Buffer.from(head, 'latin1');
}

/** An interim (1xx) response for an HTTP/1.1 client, e.g. 103 Early Hints. */
export function h1InterimHead(status: number, rawHeaders: readonly string[]): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n${fieldLines(rawHeaders)}\r\n`, 'latin1');
}

/** The last chunk of a chunked body, with the HTTP/2 response's trailers (if any) as trailer fields. */
export function h1LastChunk(trailers: IncomingHttpHeaders | null): Buffer {
  if (trailers === null) return LAST_CHUNK;
  let out = '0\r\n';
  for (const name of Object.keys(trailers)) {
    if (name.charCodeAt(0) === 58 /* : */ || RESPONSE_DROP.has(name)) continue;
    const value = trailers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) out += `${name}: ${one}\r\n`;
    else out += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${out}\r\n`, 'latin1');
}

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** `name: value\r\n` for each field of rawHeaders that an HTTP/1.1 message may carry. */
function fieldLines(rawHeaders: readonly string[]): string {
  let out = '';
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.charCodeAt(0) === 58 /* : */ || RESPONSE_DROP.has(name)) continue;
    out += `${name}: ${rawHeaders[i + 1]}\r\n`;
  }
  return out;
}

/** rawHeaders from a headers object (when the event did not pass them). */
export function rawHeadersOf(headers: IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) raw.push(name, one);
    else raw.push(name, String(value));
  }
  return raw;
}
