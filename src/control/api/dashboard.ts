/**
 * The dashboard's static files (dist/dashboard, built by `npm run build:dashboard`) at `/`:
 * index.html for `/` and every other path outside the APIs (the dashboard routes in the hash),
 * assets with their content type, hashed assets cached for a year, and nothing outside the
 * directory. Without a build, `/` says how to make one.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MeshError, packageRoot } from '../../core/index.ts';

/** src/control/api/ and dist/control/api/ are both three levels below the package root. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('dist/dashboard/', packageRoot(import.meta.url)));

/** Paths the APIs own: the dashboard never answers under them. */
const API_PREFIXES = ['/api', '/v1', '/v1.0', '/metrics', '/healthz', '/readyz'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Vite names built assets `<name>-<hash>.<ext>`; only those may be cached for good. */
const HASHED_ASSET = /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trellis</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>Trellis control plane</h1>
<p>The dashboard is not built. Run <code>npm run build:dashboard</code> (or <code>npm run build</code>)
in the Trellis directory, then reload this page. The API is served under <code>/api/v1</code>.</p>
</body></html>
`;

export interface DashboardFiles {
  /** True when the dashboard answers this method and path (GET or HEAD outside the API prefixes). */
  owns(method: string, path: string): boolean;
  /** Serves the file for `path`; throws a MeshError (NOT_FOUND, BAD_REQUEST) for the error reply. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export function createDashboardFiles(options: { dir?: string } = {}): DashboardFiles {
  const root = normalize(options.dir ?? DEFAULT_DASHBOARD_DIR).replace(/[\\/]+$/, '');
  const index = join(root, 'index.html');

  async function fileAt(path: string): Promise<{ file: string; size: number; mtime: Date } | undefined> {
    try {
      const info = await stat(path);
      return info.isFile() ? { file: path, size: info.size, mtime: info.mtime } : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    owns(method, path) {
      if (method !== 'GET' && method !== 'HEAD') return false;
      return !API_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
    },

    async serve(req, res, path) {
      const wanted = resolveInside(root, path);
      let found = wanted === root ? undefined : await fileAt(wanted);
      if (!found && path.startsWith('/assets/'))
        throw new MeshError('NOT_FOUND', `no dashboard file ${path}`);
      found ??= await fileAt(index);
      if (!found) {
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Length': Buffer.byteLength(NOT_BUILT),
          'Cache-Control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : NOT_BUILT);
        return;
      }
      const isIndex = found.file === index;
      res.writeHead(200, {
        'Content-Type': CONTENT_TYPES[extname(found.file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Length': found.size,
        'Cache-Control': !isIndex && HASHED_ASSET.test(path) ? IMMUTABLE : 'no-cache',
        'Last-Modified': found.mtime.toUTCString(),
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      await new Promise<void>((resolve) => {
        const stream = createReadStream(found.file);
        stream.on('error', () => {
          res.destroy();
          resolve();
        });
        stream.on('end', resolve);
        stream.pipe(res);
      });
    },
  };
}

/** The file a URL path names under `root`; BAD_REQUEST for a path that would leave it. */
function resolveInside(root: string, path: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new MeshError('BAD_REQUEST', `malformed percent-encoding in ${path}`);
  }
  if (decoded.includes('\0') || decoded.split(/[\\/]/).includes('..')) {
    throw new MeshError('BAD_REQUEST', `the path ${path} leaves the dashboard directory`);
  }
  const file = normalize(join(root, decoded));
  if (file !== root && !file.startsWith(root + sep)) {
    throw new MeshError('BAD_REQUEST', `the path ${path} leaves the dashboard directory`);
  }
  return file;
}
