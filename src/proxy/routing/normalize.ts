/**
 * Path normalisation for the gateway (RFC 3986 §6.2.2, as Envoy's `normalize_path` and Kong do it).
 * Routes are matched on the path and the upstream then serves that path, so both must see the same
 * one: unnormalised, `/api/x/../internal` matched the `/api` route while a server that resolves dot
 * segments served `/api/internal`, past the more specific route for it.
 */

/**
 * The origin-form target with percent-encoded unreserved characters decoded (`%69` → `i`, `%2E` →
 * `.`) and `.` and `..` segments removed; other escapes (`%2F`), doubled slashes and the query stay
 * as sent. Returns `target` itself when there is nothing to change, without allocating.
 */
export function normalizePath(target: string): string {
  const q = target.indexOf('?');
  const end = q < 0 ? target.length : q;
  if (!mayChange(target, end)) return target;
  const path = removeDotSegments(decodeUnreserved(target.slice(0, end)));
  return q < 0 ? path : path + target.slice(q);
}

/** Whether the path has an escape or a segment starting with `.` (a cheap over-approximation). */
function mayChange(target: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 37 /* % */) return true;
    if (c === 46 /* . */ && i > 0 && target.charCodeAt(i - 1) === 47 /* / */) return true;
  }
  return false;
}

const ESCAPE = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** RFC 3986 §2.3: an escaped unreserved character is the character itself. */
function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(ESCAPE, (sequence, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : sequence;
  });
}

/** RFC 3986 §5.2.4 on an absolute path: `.` goes, `..` takes the segment before it (never above `/`). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const last = segments.length - 1;
  const out: string[] = [];
  for (let i = 1; i <= last; i++) {
    const segment = segments[i]!;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      // A trailing `.` or `..` leaves a directory: `/a/b/..` is `/a/`.
      if (i === last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}
