import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { connect, createServer as createNetServer, type Socket } from 'node:net';

/**
 * One port speaking both protocols: a connection opening with the HTTP/2 preface is piped to an h2c
 * server, any other to an HTTP/1.1 server; each answers with its protocol as the body and `x-proto`, and the request body as `x-body`.
 */
export async function startDualUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const answer =
    (proto: string) =>
    (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        res.setHeader('x-proto', proto);
        res.setHeader('x-body', body);
        res.end(proto);
      });
    };
  const h1: HttpServer = createHttpServer(answer('h1'));
  const h2 = createH2Server(answer('h2'));
  h2.on('session', (session) => session.on('error', () => {}));
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  };
  h1.on('connection', track);
  h2.on('connection', track);
  await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', () => resolve()));
  const front = createNetServer((socket) => {
    track(socket);
    socket.once('data', (first: Buffer) => {
      const inner = first.toString('latin1', 0, 3) === 'PRI' ? h2 : h1;
      const pipe = connect((inner.address() as { port: number }).port, '127.0.0.1');
      track(pipe);
      pipe.on('close', () => socket.destroy());
      socket.on('close', () => pipe.destroy());
      pipe.write(first);
      socket.pipe(pipe).pipe(socket);
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (front.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [front, h1, h2].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
}
