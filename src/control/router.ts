/**
 * A small method + path router. Patterns are literal segments and `:param` segments
 * (`/api/v1/services/:name`); a path that matches no pattern is NOT_FOUND, a path that matches
 * only under other methods is METHOD_NOT_ALLOWED (with the allowed methods in the details).
 */
import { MeshError } from '../core/index.ts';

export type Params = Record<string, string>;

export interface RouteMatch<H> {
  handler: H;
  params: Params;
}

export interface Router<H> {
  add(methods: string | string[], pattern: string, handler: H): Router<H>;
  /** Throws MeshError NOT_FOUND or METHOD_NOT_ALLOWED. */
  match(method: string, path: string): RouteMatch<H>;
}

interface Route<H> {
  methods: Set<string>;
  segments: string[];
  handler: H;
}

export function createRouter<H>(): Router<H> {
  const routes: Route<H>[] = [];

  const router: Router<H> = {
    add(methods, pattern, handler) {
      const list = (Array.isArray(methods) ? methods : [methods]).map((method) => method.toUpperCase());
      routes.push({ methods: new Set(list), segments: split(pattern), handler });
      return router;
    },

    match(method, path) {
      const segments = split(path);
      const wanted = method.toUpperCase();
      const allowed = new Set<string>();
      for (const route of routes) {
        const params = matchSegments(route.segments, segments);
        if (!params) continue;
        // HEAD is served by the GET handler; node:http drops the body.
        if (route.methods.has(wanted) || (wanted === 'HEAD' && route.methods.has('GET'))) {
          return { handler: route.handler, params };
        }
        for (const allowedMethod of route.methods) allowed.add(allowedMethod);
      }
      if (allowed.size > 0) {
        const methods = [...allowed].sort();
        throw new MeshError(
          'METHOD_NOT_ALLOWED',
          `${method} is not allowed on ${path}; use ${methods.join(', ')}`,
          {
            details: [{ message: 'allowed methods', allow: methods }],
          },
        );
      }
      throw new MeshError('NOT_FOUND', `no route for ${method} ${path}`);
    },
  };
  return router;
}

function split(path: string): string[] {
  return path.split('/').filter((segment) => segment.length > 0);
}

function matchSegments(pattern: string[], path: string[]): Params | undefined {
  if (pattern.length !== path.length) return undefined;
  for (let i = 0; i < pattern.length; i++) {
    if (!pattern[i]!.startsWith(':') && pattern[i] !== path[i]) return undefined;
  }
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i]!.startsWith(':')) params[pattern[i]!.slice(1)] = decodeSegment(path[i]!);
  }
  return params;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new MeshError('BAD_REQUEST', `malformed percent-encoding in path segment "${segment}"`);
  }
}
