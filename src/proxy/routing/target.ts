/** Request-target helpers shared by the listeners; they allocate only for the forms they rewrite. */

/** The parts of an absolute-form target, written by `splitAbsolute`. */
export interface AbsoluteTarget {
  /** `host[:port]` as sent. */
  authority: string;
  /** Origin-form: path and query, `/` when the target had no path. */
  path: string;
}

/**
 * Splits `http://authority/path?query` into `out` and returns true; false for any other form
 * (origin-form `/…`, `*`, authority-form, other schemes). The scheme is matched case-insensitively.
 */
export function splitAbsolute(target: string, out: AbsoluteTarget): boolean {
  if (target.charCodeAt(0) === 47 /* / */ || target.length < 8) return false;
  const scheme = target.slice(0, 7).toLowerCase();
  if (scheme !== 'http://') return false;
  let end = 7;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  const authority = target.slice(7, end);
  if (authority.length === 0 || authority.includes('@')) return false;
  out.authority = authority;
  const rest = target.slice(end);
  out.path = rest.length === 0 ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  return true;
}

/**
 * The host of a Host value or authority as sent, without the port (`[::1]:80` → `[::1]`) and without
 * one trailing dot (`orders.:80` → `orders`: an absolute DNS name is the same name, as Envoy's
 * `strip_trailing_host_dot`). It allocates only when it cuts something off.
 */
export function hostOf(authority: string): string {
  let end = authority.length;
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const close = authority.indexOf(']');
    if (close > 0) end = close + 1;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) end = colon;
    if (end > 1 && authority.charCodeAt(end - 1) === 46 /* . */) end--;
  }
  return end === authority.length ? authority : authority.slice(0, end);
}

/** `hostOf`, lowercase (host names are case-insensitive): what host matching compares. */
export function hostName(authority: string): string {
  const host = hostOf(authority);
  return hasUpper(host) ? host.toLowerCase() : host;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

export const DAPR_PREFIX = '/v1.0/invoke/';

/** The parts of a Dapr-style target `/v1.0/invoke/{service}/method/{path}`. */
export interface DaprTarget {
  service: string;
  /** `/{path}` with the query. */
  path: string;
}

/** Splits a Dapr invocation target into `out`; false when the target is not one. */
export function splitDapr(target: string, out: DaprTarget): boolean {
  if (!target.startsWith(DAPR_PREFIX)) return false;
  const start = DAPR_PREFIX.length;
  const slash = target.indexOf('/', start);
  if (slash <= start) return false;
  if (!target.startsWith('/method', slash)) return false;
  const after = slash + 7;
  const c = target.charCodeAt(after);
  // `/method` alone, `/method/…` or `/method?…`
  if (after < target.length && c !== 47 && c !== 63) return false;
  out.service = target.slice(start, slash);
  const rest = target.slice(after + (c === 47 ? 1 : 0));
  out.path = `/${rest}`;
  return true;
}
