/**
 * What the demo services share: an HTTP server on $PORT with `GET /health`, JSON answers, and calls to
 * other services through the service's own sidecar ($MESH_OUTBOUND, host:port of its outbound
 * listener), passing the trace context on so the mesh sees one trace per request.
 */
import { Agent, createServer, type IncomingMessage, request } from 'node:http';

export interface Reply {
  status?: number;
  body: unknown;
}

export interface Calls {
  /** GET `path` on `service` through the sidecar; the answer's status and parsed body. */
  get(service: string, path: string): Promise<{ status: number; body: unknown }>;
}

export type Handler = (req: IncomingMessage, calls: Calls) => Promise<Reply> | Reply;

const TRACE_HEADERS = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled'];

export function serve(name: string, handler: Handler): void {
  const port = Number(process.env.PORT ?? 0);
  const [outboundHost, outboundPort] = (process.env.MESH_OUTBOUND ?? '127.0.0.1:7481').split(':');
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/health') {
      res.end('ok');
      return;
    }
    const calls: Calls = {
      get(service, path) {
        const headers: Record<string, string> = { host: service };
        for (const header of TRACE_HEADERS) {
          const value = req.headers[header];
          if (typeof value === 'string') headers[header] = value;
        }
        return new Promise((resolve) => {
          const outgoing = request(
            { host: outboundHost, port: Number(outboundPort), path, headers, agent, timeout: 5000 },
            (answer) => {
              let text = '';
              answer.setEncoding('utf8');
              answer.on('data', (chunk: string) => {
                text += chunk;
              });
              answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: parse(text) }));
              answer.on('error', () => resolve({ status: 502, body: { error: 'reset' } }));
            },
          );
          outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
          outgoing.on('error', (error) => resolve({ status: 502, body: { error: error.message } }));
          outgoing.end();
        });
      },
    };
    Promise.resolve(handler(req, calls)).then(
      (reply) => send(reply.status ?? 200, { service: name, ...(reply.body as object) }),
      (error: Error) => send(500, { service: name, error: error.message }),
    );
    function send(status: number, body: unknown) {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    }
  });
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1', () => {
    const address = server.address() as { port: number };
    process.stdout.write(`${JSON.stringify({ service: name, port: address.port, pid: process.pid })}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
