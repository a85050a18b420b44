/** A TCP forwarder to 127.0.0.1:target that a test can cut (refusing and dropping connections) and restore. */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.ts';

export interface TcpForwarder {
  readonly port: number;
  up(): Promise<void>;
  /** Closes the listener and destroys every forwarded connection. */
  down(): Promise<void>;
}

export async function startForwarder(target: number): Promise<TcpForwarder> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  async function up(): Promise<void> {
    const next = createServer((client) => {
      const upstream = connect(target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    server = next;
  }
  async function down(): Promise<void> {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  }
  await up();
  return { port, up, down };
}
