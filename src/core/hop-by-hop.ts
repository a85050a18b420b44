/**
 * Hop-by-hop header names (RFC 9110 7.6.1, plus the obsolete `keep-alive` and `proxy-connection`):
 * they describe one connection and are never forwarded. The HTTP/1.1 codec classifies them from
 * bytes (proxy/http1/header-kind.ts); code holding header names as strings checks this set.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
