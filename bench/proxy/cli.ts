import { parseArgs } from 'node:util';

/** `--port P --upstream HOST:PORT`, the command line every Node proxy of the benchmark takes. */
export interface ProxyArgs {
  port: number;
  upstream: { host: string; port: number };
}

export function proxyArgs(argv = process.argv.slice(2)): ProxyArgs {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, upstream: { type: 'string' } },
  });
  const port = Number(values.port);
  const match = /^(.+):(\d+)$/.exec(values.upstream ?? '');
  if (!Number.isInteger(port) || port <= 0 || match === null) {
    throw new Error('usage: --port PORT --upstream HOST:PORT');
  }
  return { port, upstream: { host: match[1]!, port: Number(match[2]) } };
}

/** Runs `close` once on SIGTERM or SIGINT, then exits. */
export function onShutdown(close: () => Promise<void> | void): void {
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
