import { createServer, type Server } from 'node:net';
import type { Clock, Logger } from '../../core/index.ts';
import type { ListenerStats } from '../../telemetry/proxy-stats.ts';
import {
  ClientConnection,
  type EngineContext,
  type ExchangeTelemetry,
  type ReplyPoller,
  type Resolver,
} from '../engine/index.ts';
import { ReadBufferPool } from '../upstream/index.ts';
import { bind } from './bind.ts';

/**
 * Each client connection reads into a buffer of its own, reused from read to read. Request heads
 * are small and a body larger than this just takes more reads; the connection keeps it while open,
 * so it is smaller than the upstream connections' 64 KiB (only the pages reads fill are resident).
 */
const CLIENT_READ_BUFFER_BYTES = 16 * 1024;
/** Buffers of closed client connections kept for the next ones. */
const FREE_CLIENT_READ_BUFFERS = 16;

/** A listening proxy port. */
export interface ProxyListener {
  /** The bound port (the OS's choice when 0 was asked for). */
  readonly port: number;
  readonly host: string;
  /** Client connections open now. */
  readonly connections: number;
  /**
   * Stops accepting, lets exchanges in progress finish (their responses say `connection: close`)
   * for at most `drainTimeoutMs` (or the time given), then closes what is left.
   *
   * `shared`: the port is a cluster worker's, shared through the primary's round-robin handle. The
   * server then stays open until the end and closes each new connection at once: a worker that closes
   * its server first may be handed a connection it sends back, which Node's primary queues after the
   * last worker left and never closes (the client hangs until the primary exits).
   */
  close(drainTimeoutMs?: number, shared?: boolean): Promise<void>;
}

export interface ListenerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How long `close()` waits for exchanges in progress (default 5 s). */
  drainTimeoutMs?: number;
  /** A client connection idle between requests is closed after this long (default 60 s). */
  clientIdleTimeoutMs?: number;
  /** Where this listener's exchanges are counted and timed (createProxy passes its own); none: off. */
  metrics?: ListenerStats;
  /** Tracing and the access log of this listener's exchanges (createProxy passes its own); none: off. */
  telemetry?: ExchangeTelemetry | null;
  /** Busy polling while fast upstreams' replies are due (createProxy passes its own); none: off. */
  replyPoller?: ReplyPoller | null;
}

export interface ListenerDeps {
  clock: Clock;
  logger: Logger;
  resolve: Resolver;
  trustForwarded: boolean;
  random?: () => number;
  /** Called once the listener has closed (a mode releases what it owns). */
  onClosed?: () => void;
}

/** Binds a server whose connections run the proxy engine with the mode's resolver. */
export async function listen(options: ListenerOptions, deps: ListenerDeps): Promise<ProxyListener> {
  const host = options.host ?? '127.0.0.1';
  const drainTimeoutMs = options.drainTimeoutMs ?? 5_000;
  const connections = new Set<ClientConnection>();
  let onEmpty: (() => void) | undefined;
  const ctx: EngineContext = {
    clock: deps.clock,
    logger: deps.logger,
    resolve: deps.resolve,
    trustForwarded: deps.trustForwarded,
    clientIdleTimeoutMs: options.clientIdleTimeoutMs ?? 60_000,
    random: deps.random ?? Math.random,
    metrics: options.metrics ?? null,
    telemetry: options.telemetry ?? null,
    replyPoller: options.replyPoller ?? null,
    readBuffers: new ReadBufferPool(FREE_CLIENT_READ_BUFFERS, CLIENT_READ_BUFFER_BYTES),
    draining: false,
    onClose(connection) {
      connections.delete(connection as ClientConnection);
      if (connections.size === 0) onEmpty?.();
    },
  };
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    if (ctx.draining) {
      socket.destroy();
      return;
    }
    connections.add(new ClientConnection(socket, ctx));
  });
  server.on('error', (error) => deps.logger.error({ err: error }, 'proxy: listener error'));
  const port = await bind(server, options.port, host);

  let closing: Promise<void> | undefined;
  async function close(timeoutMs: number, shared: boolean): Promise<void> {
    ctx.draining = true;
    const unbind = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const stopped = shared ? undefined : unbind();
    for (const connection of [...connections]) connection.drain();
    if (connections.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = deps.clock.setTimeout(resolve, timeoutMs);
        onEmpty = () => {
          deps.clock.clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const connection of [...connections]) connection.destroy();
    await (stopped ?? unbind());
    deps.onClosed?.();
  }

  return {
    port,
    host,
    get connections() {
      return connections.size;
    },
    close(timeoutMs = drainTimeoutMs, shared = false) {
      closing ??= close(timeoutMs, shared);
      return closing;
    },
  };
}
