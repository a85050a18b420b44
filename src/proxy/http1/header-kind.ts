import { equalsLower } from './chars.ts';

/**
 * The header fields the codec recognises, as bit flags: the parser stores one per header and ORs them
 * into the head's `kindMask`, so "does this head have any header to drop?" is one AND.
 */
export const HeaderKind = {
  Other: 0,
  Host: 1 << 0,
  ContentLength: 1 << 1,
  TransferEncoding: 1 << 2,
  Connection: 1 << 3,
  KeepAlive: 1 << 4,
  ProxyConnection: 1 << 5,
  TE: 1 << 6,
  Trailer: 1 << 7,
  Upgrade: 1 << 8,
  ProxyAuthorization: 1 << 9,
  ProxyAuthenticate: 1 << 10,
  Expect: 1 << 11,
  XForwardedFor: 1 << 12,
  XForwardedProto: 1 << 13,
  XForwardedHost: 1 << 14,
  Forwarded: 1 << 15,
  Via: 1 << 16,
  Traceparent: 1 << 17,
  Tracestate: 1 << 18,
  XRequestId: 1 << 19,
  /** Set in addition to the kind when the header is named by a Connection option (hop-by-hop). */
  ConnectionOption: 1 << 20,
  /** Zipkin B3 context (`b3`, `x-b3-*`): read only when a request brings no traceparent. */
  B3: 1 << 21,
  XForwardedPort: 1 << 22,
} as const;

/** Hop-by-hop fields never forwarded in a request (Upgrade is kept when the proxy upgrades). */
export const REQUEST_HOP_BY_HOP =
  HeaderKind.Connection |
  HeaderKind.KeepAlive |
  HeaderKind.ProxyConnection |
  HeaderKind.TE |
  HeaderKind.Trailer |
  HeaderKind.Upgrade |
  HeaderKind.ProxyAuthorization |
  HeaderKind.ConnectionOption;

/** Hop-by-hop fields never forwarded in a response (Upgrade is kept on a 101). */
export const RESPONSE_HOP_BY_HOP =
  HeaderKind.Connection |
  HeaderKind.KeepAlive |
  HeaderKind.ProxyConnection |
  HeaderKind.TE |
  HeaderKind.Trailer |
  HeaderKind.Upgrade |
  HeaderKind.ProxyAuthenticate |
  HeaderKind.ConnectionOption;

/** Classifies the (already validated) header name buf[start, end). */
export function classifyHeader(buf: Buffer, start: number, end: number): number {
  switch (end - start) {
    case 2:
      if (equalsLower(buf, start, end, 'te')) return HeaderKind.TE;
      return equalsLower(buf, start, end, 'b3') ? HeaderKind.B3 : 0;
    case 3:
      return equalsLower(buf, start, end, 'via') ? HeaderKind.Via : 0;
    case 4:
      return equalsLower(buf, start, end, 'host') ? HeaderKind.Host : 0;
    case 6:
      return equalsLower(buf, start, end, 'expect') ? HeaderKind.Expect : 0;
    case 7:
      if (equalsLower(buf, start, end, 'upgrade')) return HeaderKind.Upgrade;
      return equalsLower(buf, start, end, 'trailer') ? HeaderKind.Trailer : 0;
    case 9:
      return equalsLower(buf, start, end, 'forwarded') ? HeaderKind.Forwarded : 0;
    case 10:
      if (equalsLower(buf, start, end, 'connection')) return HeaderKind.Connection;
      if (equalsLower(buf, start, end, 'keep-alive')) return HeaderKind.KeepAlive;
      if (equalsLower(buf, start, end, 'tracestate')) return HeaderKind.Tracestate;
      return equalsLower(buf, start, end, 'x-b3-flags') ? HeaderKind.B3 : 0;
    case 11:
      if (equalsLower(buf, start, end, 'traceparent')) return HeaderKind.Traceparent;
      return equalsLower(buf, start, end, 'x-b3-spanid') ? HeaderKind.B3 : 0;
    case 12:
      if (equalsLower(buf, start, end, 'x-request-id')) return HeaderKind.XRequestId;
      if (equalsLower(buf, start, end, 'x-b3-traceid')) return HeaderKind.B3;
      return equalsLower(buf, start, end, 'x-b3-sampled') ? HeaderKind.B3 : 0;
    case 14:
      return equalsLower(buf, start, end, 'content-length') ? HeaderKind.ContentLength : 0;
    case 15:
      return equalsLower(buf, start, end, 'x-forwarded-for') ? HeaderKind.XForwardedFor : 0;
    case 16:
      if (equalsLower(buf, start, end, 'proxy-connection')) return HeaderKind.ProxyConnection;
      if (equalsLower(buf, start, end, 'x-forwarded-host')) return HeaderKind.XForwardedHost;
      return equalsLower(buf, start, end, 'x-forwarded-port') ? HeaderKind.XForwardedPort : 0;
    case 17:
      if (equalsLower(buf, start, end, 'transfer-encoding')) return HeaderKind.TransferEncoding;
      return equalsLower(buf, start, end, 'x-forwarded-proto') ? HeaderKind.XForwardedProto : 0;
    case 18:
      return equalsLower(buf, start, end, 'proxy-authenticate') ? HeaderKind.ProxyAuthenticate : 0;
    case 19:
      return equalsLower(buf, start, end, 'proxy-authorization') ? HeaderKind.ProxyAuthorization : 0;
    default:
      return 0;
  }
}
