import { type ClientHttp2Stream, createServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/core/index.ts';
import { H2SessionPool } from '../../../../src/proxy/upstream/index.ts';

interface Server {
  port: number;
  sessions: ServerHttp2Session[];
  close(): Promise<void>;
}

const servers: Server[] = [];
const pools: H2SessionPool[] = [];

/** An h2c server answering each stream after `delayMs`. */
async function serve(options: { maxConcurrentStreams?: number; delayMs?: number } = {}): Promise<Server> {
  const sessions: ServerHttp2Session[] = [];
  const server: Http2Server = createServer({
    settings: { maxConcurrentStreams: options.maxConcurrentStreams },
  });
  server.on('session', (session) => {
    sessions.push(session);
    session.on('error', () => {});
  });
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end('ok');
    }, options.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const handle: Server = {
    port: (server.address() as { port: number }).port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function pool(target: { address: string; port: number }, idleTimeoutMs = 60_000): H2SessionPool {
  const created = new H2SessionPool(target, systemClock, { idleTimeoutMs });
  pools.push(created);
  return created;
}

function get(stream: ClientHttp2Stream): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('error', reject);
    stream.resume();
    stream.on('end', () => resolve(status));
  });
}

const GET = { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'test' };

async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  for (const s of servers.splice(0)) await s.close();
});

describe('H2SessionPool', () => {
  it('multiplexes streams over one session', async () => {
    const server = await serve({ delayMs: 30 });
    const sessions = pool({ address: '127.0.0.1', port: server.port });
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => get(sessions.acquire().request(GET, true))),
    );
    expect(statuses).toEqual(Array(10).fill(200));
    expect(server.sessions).toHaveLength(1);
    expect(sessions.size).toBe(1);
  });

  it("opens another session when one is at the peer's stream limit, assuming the limit it heard", async () => {
    const server = await serve({ maxConcurrentStreams: 2, delayMs: 30 });
    const sessions = pool({ address: '127.0.0.1', port: server.port });
    const first = sessions.acquire();
    await get(first.request(GET, true));
    expect(first.limit).toBe(2);
    const streams: Promise<number>[] = [];
    const used = new Set<object>();
    for (let i = 0; i < 5; i++) {
      const session = sessions.acquire();
      used.add(session);
      streams.push(get(session.request(GET, true)));
    }
    expect(used.size).toBe(3);
    expect(await Promise.all(streams)).toEqual(Array(5).fill(200));
    expect(server.sessions).toHaveLength(3);
  });

  it('drops a session that got GOAWAY, and the next stream opens a new one', async () => {
    const server = await serve();
    const sessions = pool({ address: '127.0.0.1', port: server.port });
    const first = sessions.acquire();
    await get(first.request(GET, true));
    server.sessions[0].close();
    await until(() => first.retired);
    expect(sessions.size).toBe(0);
    const second = sessions.acquire();
    expect(second).not.toBe(first);
    expect(await get(second.request(GET, true))).toBe(200);
    await until(() => first.closed);
  });

  it('closes a session idle for the idle timeout, not one with a stream open', async () => {
    const server = await serve({ delayMs: 400 });
    const sessions = pool({ address: '127.0.0.1', port: server.port }, 100);
    const session = sessions.acquire();
    // The stream is quiet for longer than the idle timeout: the session stays.
    expect(await get(session.request(GET, true))).toBe(200);
    expect(session.closed).toBe(false);
    await until(() => session.closed);
    expect(sessions.size).toBe(0);
  });

  it('retarget: the old session finishes its stream and closes; new streams go to the new address', async () => {
    const oldServer = await serve({ delayMs: 100 });
    const newServer = await serve();
    const target = { address: '127.0.0.1', port: oldServer.port };
    const sessions = pool(target);
    const old = sessions.acquire();
    const pending = get(old.request(GET, true));
    await until(() => old.connected);
    target.port = newServer.port;
    sessions.retarget();
    expect(old.retired).toBe(true);
    const fresh = sessions.acquire();
    expect(await get(fresh.request(GET, true))).toBe(200);
    expect(newServer.sessions).toHaveLength(1);
    expect(await pending).toBe(200);
    await until(() => old.closed);
  });

  it('close: sessions close once their streams are done; a late stream still gets a session', async () => {
    const server = await serve({ delayMs: 50 });
    const sessions = pool({ address: '127.0.0.1', port: server.port });
    const session = sessions.acquire();
    const pending = get(session.request(GET, true));
    sessions.close();
    const late = sessions.acquire();
    expect(late.retired).toBe(true);
    expect(await Promise.all([pending, get(late.request(GET, true))])).toEqual([200, 200]);
    await until(() => session.closed && late.closed);
  });

  it('fails the streams of a session that cannot connect', async () => {
    const server = await serve();
    const port = server.port;
    await server.close();
    servers.length = 0;
    const sessions = pool({ address: '127.0.0.1', port });
    const session = sessions.acquire();
    const stream = session.request(GET, true);
    await new Promise<void>((resolve) => {
      stream.on('error', () => {});
      stream.on('close', () => resolve());
    });
    expect(session.connected).toBe(false);
    await until(() => session.closed);
    expect(session.errorCode).toBe('ECONNREFUSED');
    expect(sessions.size).toBe(0);
  });
});
