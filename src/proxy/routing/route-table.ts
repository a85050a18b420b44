import type { HeaderMatch, Route } from '../../core/index.ts';
import { findHeader, type HeadView } from '../http1/index.ts';

/** Where header conditions read from: the parsed request head's header offsets. */
export type HeaderSource = Pick<HeadView, 'buf' | 'base' | 'headers' | 'headerCount' | 'headerValue'>;

/** A route prepared for matching, with `data` attached by the caller at compile time. */
export interface CompiledRoute<T> {
  readonly route: Route;
  /** Position in precedence order: priority (higher first), longer path match, name. */
  readonly order: number;
  readonly methods: ReadonlySet<string> | null;
  readonly headers: readonly HeaderCondition[] | null;
  /** The matched prefix when `stripPrefix` applies, else null. */
  readonly strip: string | null;
  readonly data: T;
}

interface HeaderCondition {
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: RegExp | undefined;
  readonly present: boolean | undefined;
}

interface PrefixRoutes<T> {
  readonly prefix: string;
  readonly routes: CompiledRoute<T>[];
}

/** The routes of one host (or of any host), indexed by how they match the path. */
interface RouteGroup<T> {
  readonly exact: Map<string, CompiledRoute<T>[]>;
  /** Longest prefix first. */
  readonly prefixes: PrefixRoutes<T>[];
  readonly regex: Array<CompiledRoute<T> & { readonly pattern: RegExp }>;
  /** Routes without a path condition. */
  readonly any: CompiledRoute<T>[];
}

export interface RouteCompileError {
  route: string;
  message: string;
}

/**
 * The gateway's routes compiled for matching; built once per change of the route list. A request is
 * matched by host first (the exact host's routes, then wildcard `*.suffix` ones from the longest
 * suffix, then routes for any host; the first group with a match wins), then within the group by
 * precedence (priority, longer path, name) among the routes whose path, methods and headers match.
 * Exact paths are a map lookup and prefixes a string comparison; a regex runs only when no exact or
 * prefix route of higher precedence matched.
 */
export class RouteTable<T> {
  readonly size: number;
  /** Whether any route names hosts (if not, the host is never looked at). */
  readonly usesHosts: boolean;
  private readonly exactHosts = new Map<string, RouteGroup<T>>();
  private readonly wildcards: Array<{ suffix: string; group: RouteGroup<T> }> = [];
  private readonly anyHost: RouteGroup<T>;

  constructor(routes: readonly CompiledRoute<T>[], patterns: Map<CompiledRoute<T>, PathPattern>) {
    this.size = routes.length;
    const sorted = [...routes].sort((a, b) => a.order - b.order);
    const anyHost = newGroup<T>();
    let usesHosts = false;
    for (const compiled of sorted) {
      const hosts = compiled.route.match.hosts;
      const pattern = patterns.get(compiled)!;
      if (hosts === undefined || hosts.length === 0) {
        addToGroup(anyHost, compiled, pattern);
        continue;
      }
      usesHosts = true;
      for (const raw of new Set(hosts.map((h) => h.toLowerCase()))) {
        if (raw.startsWith('*.')) {
          const suffix = raw.slice(1);
          let entry = this.wildcards.find((w) => w.suffix === suffix);
          if (entry === undefined) {
            entry = { suffix, group: newGroup<T>() };
            this.wildcards.push(entry);
          }
          addToGroup(entry.group, compiled, pattern);
        } else {
          let group = this.exactHosts.get(raw);
          if (group === undefined) {
            group = newGroup<T>();
            this.exactHosts.set(raw, group);
          }
          addToGroup(group, compiled, pattern);
        }
      }
    }
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    for (const group of [anyHost, ...this.exactHosts.values(), ...this.wildcards.map((w) => w.group)]) {
      group.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    }
    this.anyHost = anyHost;
    this.usesHosts = usesHosts;
  }

  /**
   * The route for a request: `host` lowercase without port (undefined when the request has none),
   * `target` the origin-form target (path and query).
   */
  match(
    method: string,
    host: string | undefined,
    target: string,
    head: HeaderSource,
  ): CompiledRoute<T> | undefined {
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (this.usesHosts && host !== undefined) {
      const exact = this.exactHosts.get(host);
      if (exact !== undefined) {
        const found = matchGroup(exact, method, path, head);
        if (found !== undefined) return found;
      }
      for (const { suffix, group } of this.wildcards) {
        if (host.length > suffix.length && host.endsWith(suffix)) {
          const found = matchGroup(group, method, path, head);
          if (found !== undefined) return found;
        }
      }
    }
    return matchGroup(this.anyHost, method, path, head);
  }
}

type PathPattern =
  | { kind: 'exact'; path: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'regex'; regex: RegExp }
  | { kind: 'any' };

/**
 * Compiles routes; a route that cannot be compiled (a bad regex) is left out and reported in
 * `errors`, so one bad route never takes the others down.
 */
export function compileRoutes<T>(
  routes: readonly Route[],
  attach: (route: Route) => T,
): { table: RouteTable<T>; errors: RouteCompileError[] } {
  const errors: RouteCompileError[] = [];
  const prepared: Array<{
    route: Route;
    pattern: PathPattern;
    pathLength: number;
    headers: HeaderCondition[] | null;
  }> = [];
  for (const route of routes) {
    try {
      const pattern = pathPattern(route);
      // A regex counts as written: its compiled `source` has the anchoring added and `/` escaped,
      // which made `/shop/.*` outrank the longer prefix `/shop/items` in a priority tie.
      const path = route.match.path;
      const pathLength =
        pattern.kind === 'exact'
          ? pattern.path.length
          : pattern.kind === 'prefix'
            ? pattern.prefix.length
            : path !== undefined && 'regex' in path
              ? path.regex.length
              : 0;
      prepared.push({ route, pattern, pathLength, headers: headerConditions(route.match.headers) });
    } catch (error) {
      errors.push({ route: route.name, message: (error as Error).message });
    }
  }
  prepared.sort(
    (a, b) =>
      b.route.priority - a.route.priority ||
      b.pathLength - a.pathLength ||
      (a.route.name < b.route.name ? -1 : a.route.name > b.route.name ? 1 : 0),
  );
  const compiled: CompiledRoute<T>[] = [];
  const patterns = new Map<CompiledRoute<T>, PathPattern>();
  prepared.forEach(({ route, pattern, headers }, order) => {
    const methods = route.match.methods;
    const entry: CompiledRoute<T> = {
      route,
      order,
      methods:
        methods !== undefined && methods.length > 0 ? new Set(methods.map((m) => m.toUpperCase())) : null,
      headers,
      strip: route.stripPrefix && pattern.kind === 'prefix' ? pattern.prefix : null,
      data: attach(route),
    };
    compiled.push(entry);
    patterns.set(entry, pattern);
  });
  return { table: new RouteTable(compiled, patterns), errors };
}

/**
 * The target with a matched prefix removed, always starting with `/`: `/api` on `/api/items?x=1`
 * gives `/items?x=1`, on `/api` gives `/`.
 */
export function stripPrefix(target: string, prefix: string): string {
  if (prefix === '/') return target;
  const end = prefix.endsWith('/') ? prefix.length - 1 : prefix.length;
  const rest = target.slice(end);
  if (rest.length === 0) return '/';
  const c = rest.charCodeAt(0);
  return c === 47 /* / */ ? rest : `/${rest}`;
}

/** Whether the path is under the prefix, segment-wise: `/api` matches `/api` and `/api/x`, not `/apix`. */
export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return (
    path.length === prefix.length ||
    prefix.charCodeAt(prefix.length - 1) === 47 ||
    path.charCodeAt(prefix.length) === 47
  );
}

function pathPattern(route: Route): PathPattern {
  const path = route.match.path;
  if (path === undefined) return { kind: 'any' };
  if ('exact' in path) return { kind: 'exact', path: path.exact };
  if ('prefix' in path) return { kind: 'prefix', prefix: path.prefix === '' ? '/' : path.prefix };
  return { kind: 'regex', regex: new RegExp(anchored(path.regex)) };
}

/** Path regexes match the whole path (Envoy's safe_regex semantics). */
function anchored(source: string): string {
  return `^(?:${source})$`;
}

function headerConditions(matches: readonly HeaderMatch[] | undefined): HeaderCondition[] | null {
  if (matches === undefined || matches.length === 0) return null;
  return matches.map((m) => ({
    name: m.name.toLowerCase(),
    exact: m.exact,
    regex: m.regex === undefined ? undefined : new RegExp(anchored(m.regex)),
    present: m.present,
  }));
}

function newGroup<T>(): RouteGroup<T> {
  return { exact: new Map(), prefixes: [], regex: [], any: [] };
}

function addToGroup<T>(group: RouteGroup<T>, route: CompiledRoute<T>, pattern: PathPattern): void {
  switch (pattern.kind) {
    case 'exact': {
      const list = group.exact.get(pattern.path);
      if (list === undefined) group.exact.set(pattern.path, [route]);
      else list.push(route);
      return;
    }
    case 'prefix': {
      const entry = group.prefixes.find((p) => p.prefix === pattern.prefix);
      if (entry === undefined) group.prefixes.push({ prefix: pattern.prefix, routes: [route] });
      else entry.routes.push(route);
      return;
    }
    case 'regex':
      group.regex.push({ ...route, pattern: pattern.regex });
      return;
    default:
      group.any.push(route);
  }
}

/** Routes are added in precedence order, so each list is sorted and the first acceptable one wins. */
function matchGroup<T>(
  group: RouteGroup<T>,
  method: string,
  path: string,
  head: HeaderSource,
): CompiledRoute<T> | undefined {
  let best: CompiledRoute<T> | undefined;
  if (group.exact.size > 0) {
    const list = group.exact.get(path);
    if (list !== undefined) best = firstAccepted(list, method, head, Number.POSITIVE_INFINITY);
  }
  for (const { prefix, routes } of group.prefixes) {
    if (!underPrefix(path, prefix)) continue;
    const found = firstAccepted(
      routes,
      method,
      head,
      best === undefined ? Number.POSITIVE_INFINITY : best.order,
    );
    if (found !== undefined) best = found;
  }
  for (const route of group.regex) {
    if (best !== undefined && route.order >= best.order) break;
    if (route.pattern.test(path) && accepts(route, method, head)) {
      best = route;
      break;
    }
  }
  if (group.any.length > 0) {
    const found = firstAccepted(
      group.any,
      method,
      head,
      best === undefined ? Number.POSITIVE_INFINITY : best.order,
    );
    if (found !== undefined) best = found;
  }
  return best;
}

function firstAccepted<T>(
  routes: readonly CompiledRoute<T>[],
  method: string,
  head: HeaderSource,
  before: number,
): CompiledRoute<T> | undefined {
  for (const route of routes) {
    if (route.order >= before) return undefined;
    if (accepts(route, method, head)) return route;
  }
  return undefined;
}

function accepts<T>(route: CompiledRoute<T>, method: string, head: HeaderSource): boolean {
  if (route.methods !== null && !route.methods.has(method)) return false;
  const headers = route.headers;
  if (headers === null) return true;
  for (const condition of headers) {
    if (condition.present !== undefined) {
      if (findHeader(head, condition.name, 0) >= 0 !== condition.present) return false;
      continue;
    }
    const value = headerValues(head, condition.name);
    if (value === undefined) return false;
    if (condition.exact !== undefined && value !== condition.exact) return false;
    if (condition.regex !== undefined && !condition.regex.test(value)) return false;
  }
  return true;
}

/**
 * Every value of the header `name` (lowercase) in order, joined with "," as Envoy joins a repeated
 * header before matching it (`x-tag: a` and `x-tag: b` read `a,b`); undefined when absent. A header
 * sent once costs its value's string and nothing else.
 */
export function headerValues(head: HeaderSource, name: string): string | undefined {
  const first = findHeader(head, name, 0);
  if (first < 0) return undefined;
  let value = head.headerValue(first);
  for (let i = findHeader(head, name, first + 1); i >= 0; i = findHeader(head, name, i + 1)) {
    value = `${value},${head.headerValue(i)}`;
  }
  return value;
}
