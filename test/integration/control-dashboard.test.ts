/** The dashboard's static files over a real socket: index fallback, types, caching, traversal, no build. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardFiles } from '../../src/control/api/dashboard.ts';
import { sendError } from '../../src/control/http.ts';

const INDEX = '<!doctype html><div id="app"></div>';

async function serveDir(dir: string): Promise<{ server: Server; base: string; port: number }> {
  const files = createDashboardFiles({ dir });
  const logger = pino({ level: 'silent' });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!files.owns(req.method ?? 'GET', path)) {
      res.writeHead(418).end();
      return;
    }
    files.serve(req, res, path).catch((error: unknown) => sendError(res, error, logger, req));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, base: `http://127.0.0.1:${port}`, port };
}

/** A raw request line, so `..` reaches the server as sent (fetch would normalise it). */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('dashboard files', () => {
  let root: string;
  let built: Awaited<ReturnType<typeof serveDir>>;
  let missing: Awaited<ReturnType<typeof serveDir>>;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'trellis-dashboard-files-'));
    await mkdir(join(root, 'dist/assets'), { recursive: true });
    await writeFile(join(root, 'dist/index.html'), INDEX);
    await writeFile(join(root, 'dist/assets/index-AbCdEf12.js'), 'console.log(1)');
    await writeFile(join(root, 'dist/assets/index-AbCdEf12.css'), 'body{}');
    await writeFile(join(root, 'secret.txt'), 'outside');
    built = await serveDir(join(root, 'dist'));
    missing = await serveDir(join(root, 'not-built'));
  });

  afterAll(async () => {
    await Promise.all([built, missing].map(({ server }) => new Promise((resolve) => server.close(resolve))));
    await rm(root, { recursive: true, force: true });
  });

  it('serves index.html at / and for unknown non-API paths, never cached for good', async () => {
    for (const path of ['/', '/services', '/deep/link/page']) {
      const answer = await fetch(built.base + path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(answer.headers.get('cache-control')).toBe('no-cache');
      expect(await answer.text()).toBe(INDEX);
    }
  });

  it('serves hashed assets with their content type and a long cache; a missing asset is a JSON 404', async () => {
    const js = await fetch(`${built.base}/assets/index-AbCdEf12.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toBe('console.log(1)');
    const css = await fetch(`${built.base}/assets/index-AbCdEf12.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await fetch(`${built.base}/assets/index-AbCdEf12.js`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('14');
    const gone = await fetch(`${built.base}/assets/nothing-12345678.js`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('refuses paths that leave the directory', async () => {
    for (const target of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/a%00b']) {
      const answer = await rawGet(built.port, target);
      expect(answer, target).toMatch(/^HTTP\/1\.1 400/);
      expect(answer).toContain('"code":"BAD_REQUEST"');
      expect(answer).not.toContain('outside');
    }
  });

  it('leaves the API paths and other methods to the API', async () => {
    const files = createDashboardFiles({ dir: join(root, 'dist') });
    for (const path of [
      '/api',
      '/api/v1/services',
      '/v1/traces',
      '/v1.0/invoke/a/method/b',
      '/metrics',
      '/healthz',
      '/readyz',
    ]) {
      expect(files.owns('GET', path), path).toBe(false);
    }
    expect(files.owns('GET', '/apiary')).toBe(true);
    expect(files.owns('POST', '/')).toBe(false);
  });

  it('without a build, / says how to make one', async () => {
    const answer = await fetch(`${missing.base}/`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await answer.text()).toContain('npm run build:dashboard');
  });
});
