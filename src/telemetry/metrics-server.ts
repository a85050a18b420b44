import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshError } from '../core/index.ts';
import type { MetricsSource } from './metrics-source.ts';

export interface ServeMetricsOptions {
  source: MetricsSource;
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default `/metrics`. */
  path?: string;
  /** Told about a scrape that failed (the scraper gets a 500 INTERNAL). */
  onError?: (error: unknown) => void;
}

export interface MetricsServer {
  /** The bound port (the OS's choice when 0 was asked for). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A small HTTP listener that serves a metrics source for Prometheus to scrape: a proxy's admin port
 * (its proxy ports never answer anything but proxied traffic). `GET`/`HEAD` on the path only; other
 * paths and methods get the usual JSON error.
 */
export async function serveMetrics(options: ServeMetricsOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  const { source } = options;
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    if ((queryAt < 0 ? url : url.slice(0, queryAt)) !== path) {
      sendError(res, new MeshError('NOT_FOUND', `no route for ${req.method} ${url}; metrics are at ${path}`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(
        res,
        new MeshError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use GET, HEAD`, {
          details: [{ message: 'allowed methods', allow: ['GET', 'HEAD'] }],
        }),
        { Allow: 'GET, HEAD' },
      );
      return;
    }
    source.text().then(
      (text) => {
        res.writeHead(200, {
          'Content-Type': source.contentType,
          'Content-Length': Buffer.byteLength(text),
          'Cache-Control': 'no-store',
        });
        res.end(text);
      },
      (error: unknown) => {
        options.onError?.(error);
        sendError(res, new MeshError('INTERNAL', 'the metrics could not be collected', { cause: error }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `http://${urlHost}:${port}${path}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function sendError(res: ServerResponse, error: MeshError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(error.toJSON());
  res.writeHead(error.status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
