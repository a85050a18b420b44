import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/*
 * Ports handed to child processes come from below the kernel's ephemeral range, one block per
 * vitest worker. A port the OS picked with listen(0) lies inside that range, so between our check
 * and the child's listen an outgoing connection anywhere on the machine (a sidecar dialling its
 * control plane, another test's client) could take it as its local port: EADDRINUSE. Below the
 * range only an explicit bind can take a port, and every worker binds in its own block.
 */
const LOWEST_PORT = 10_000;
const BLOCK_SIZE = 1_000;

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > LOWEST_PORT + BLOCK_SIZE ? port : 32_768;
  } catch {
    return 32_768;
  }
}

const blocks = Math.floor((ephemeralRangeStart() - LOWEST_PORT) / BLOCK_SIZE);
const worker = Number(process.env.VITEST_POOL_ID ?? process.pid);
const blockStart = LOWEST_PORT + (worker % blocks) * BLOCK_SIZE;
// A random start keeps a test file away from ports the previous file in this worker just released.
let next = Math.floor(Math.random() * BLOCK_SIZE);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that is free and that no outgoing connection will take (see above). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < BLOCK_SIZE; tried++) {
    const port = blockStart + (next++ % BLOCK_SIZE);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${blockStart}-${blockStart + BLOCK_SIZE - 1}`);
}
