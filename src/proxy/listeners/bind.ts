import type { Server } from 'node:net';

/** Listens on host:port and resolves with the bound port (the OS's choice for 0); rejects if binding fails. */
export async function bind(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : port;
}
