import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
  type Settings,
} from 'node:http2';

export interface H2Upstream {
  port: number;
  /** Sessions (connections) accepted so far, and open now. */
  readonly sessions: number;
  readonly openSessions: number;
  /** Streams (requests) accepted so far. */
  readonly streams: number;
  /** Most streams seen open at once on one session. */
  readonly maxConcurrent: number;
  /** Sends GOAWAY on every session and closes it once its streams are done. */
  goaway(): void;
  close(): Promise<void>;
}

/** A real node:http2 h2c server counting its sessions and streams, on `port` (default: a free one). */
export async function startH2Upstream(
  handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  options: { settings?: Settings; port?: number } = {},
): Promise<H2Upstream> {
  const open = new Map<ServerHttp2Session, number>();
  const state = { sessions: 0, streams: 0, maxConcurrent: 0 };
  const server: Http2Server = createH2Server({ settings: options.settings }, handler);
  server.on('session', (session) => {
    state.sessions++;
    open.set(session, 0);
    session.on('error', () => {});
    session.on('close', () => open.delete(session));
  });
  // Before the request handler, which may destroy the session.
  server.prependListener('stream', (stream) => {
    state.streams++;
    stream.on('error', () => {});
    const session = stream.session as ServerHttp2Session;
    const now = (open.get(session) ?? 0) + 1;
    open.set(session, now);
    state.maxConcurrent = Math.max(state.maxConcurrent, now);
    stream.on('close', () => {
      if (open.has(session)) open.set(session, open.get(session)! - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    get sessions() {
      return state.sessions;
    },
    get openSessions() {
      return open.size;
    },
    get streams() {
      return state.streams;
    },
    get maxConcurrent() {
      return state.maxConcurrent;
    },
    goaway() {
      for (const session of open.keys()) session.close();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of open.keys()) session.destroy();
        server.close(() => resolve());
      }),
  };
}
