/** Small real HTTP services for the SDK's integration tests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface App {
  readonly name: string;
  readonly port: number;
  /** Requests other than /health, in arrival order. */
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

export type AppHandler = (request: SeenRequest, res: ServerResponse, app: App) => void;

/** By default every request is answered 200 with JSON naming the app and echoing the request. */
export function echo(request: SeenRequest, res: ServerResponse, app: App): void {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ app: app.name, ...request }));
}

/** An HTTP service on 127.0.0.1; `/health` always answers 200. */
export async function startApp(name: string, handler: AppHandler = echo): Promise<App> {
  const requests: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/health') {
        res.end('ok');
        return;
      }
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      handler(seen, res, app);
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const app: App = {
    name,
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return app;
}
