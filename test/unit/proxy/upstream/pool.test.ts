import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/core/index.ts';
import {
  ReadBufferPool,
  type UpstreamConnection,
  type UpstreamOwner,
  UpstreamPool,
} from '../../../../src/proxy/upstream/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';
import { freePort } from '../../../helpers/ports.ts';

/** An owner recording what happened to its connection. */
function owner() {
  const events: string[] = [];
  let resolveConnect: (() => void) | undefined;
  let resolveClose: (() => void) | undefined;
  const connected = new Promise<void>((resolve) => {
    resolveConnect = resolve;
  });
  const closed = new Promise<void>((resolve) => {
    resolveClose = resolve;
  });
  const o: UpstreamOwner & { events: string[]; connected: Promise<void>; closed: Promise<void> } = {
    events,
    connected,
    closed,
    onUpstreamConnect: () => {
      events.push('connect');
      resolveConnect?.();
    },
    onUpstreamData: (_c, chunk) => events.push(`data:${chunk.toString()}`),
    onUpstreamDrain: () => events.push('drain'),
    onUpstreamEnd: () => events.push('end'),
    onUpstreamClose: (conn: UpstreamConnection) => {
      events.push(`close:${conn.connected ? 'connected' : 'never'}:${conn.errorCode ?? ''}`);
      resolveClose?.();
    },
  };
  return o;
}

async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('UpstreamPool', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();
  let accepted = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('reuses released connections, last in first out', async () => {
    const pool = new UpstreamPool({ address: '127.0.0.1', port }, systemClock);
    const o1 = owner();
    const o2 = owner();
    const a = pool.acquire(o1);
    const b = pool.acquire(o2);
    expect(a.connected).toBe(false);
    await Promise.all([o1.connected, o2.connected]);
    expect(pool.open).toBe(2);
    pool.release(a, true);
    pool.release(b, true);
    expect(pool.idleCount).toBe(2);
    const again = pool.acquire(owner());
    expect(again).toBe(b);
    expect(again.connected).toBe(true);
    expect(again.reused).toBe(true);
    expect(pool.acquire(owner())).toBe(a);
    expect(pool.acquire(owner())).not.toBe(a);
    pool.close();
  });

  it('closes what it cannot keep: not reusable, beyond maxIdle, after close()', async () => {
    const pool = new UpstreamPool({ address: '127.0.0.1', port }, systemClock, { maxIdle: 1 });
    const owners = [owner(), owner(), owner()];
    const conns = owners.map((o) => pool.acquire(o));
    await Promise.all(owners.map((o) => o.connected));
    pool.release(conns[0], false);
    pool.release(conns[1], true);
    pool.release(conns[2], true);
    expect(pool.idleCount).toBe(1);
    await until(() => conns[0].closed && conns[2].closed);
    expect(conns[1].closed).toBe(false);
    pool.close();
    await until(() => conns[1].closed);
    expect(pool.open).toBe(0);
  });

  it('drops an idle connection the upstream closed, and closes idle ones after the idle timeout', async () => {
    const pool = new UpstreamPool({ address: '127.0.0.1', port }, systemClock, { idleTimeoutMs: 100 });
    const o1 = owner();
    const o2 = owner();
    const before = accepted;
    const a = pool.acquire(o1);
    const b = pool.acquire(o2);
    await Promise.all([o1.connected, o2.connected]);
    await until(() => accepted === before + 2);
    pool.release(a, true);
    // The upstream closes `a` while it is idle.
    const local = a.socket.localPort;
    for (const socket of sockets) if (socket.remotePort === local) socket.destroy();
    await until(() => a.closed);
    expect(pool.idleCount).toBe(0);
    pool.release(b, true);
    expect(pool.idleCount).toBe(1);
    await until(() => b.closed, 1_000);
    expect(pool.idleCount).toBe(0);
    pool.close();
  });

  it('reports a refused connection as closed before it connected', async () => {
    const dead = await freePort();
    const pool = new UpstreamPool({ address: '127.0.0.1', port: dead }, systemClock);
    const o = owner();
    pool.acquire(o);
    await o.closed;
    expect(o.events).toEqual(['close:never:ECONNREFUSED']);
    expect(pool.open).toBe(0);
  });

  it('fails a connection that is not established within the connect timeout', async () => {
    const clock = createFakeClock();
    const pool = new UpstreamPool({ address: '127.0.0.1', port }, clock, { connectTimeoutMs: 1_000 });
    const o = owner();
    pool.acquire(o);
    clock.advance(1_000);
    await o.closed;
    expect(o.events).toEqual(['close:never:CONNECT_TIMEOUT']);
  });

  it('does not keep connections to an address the endpoint moved away from', async () => {
    const target = { address: '127.0.0.1', port };
    const pool = new UpstreamPool(target, systemClock);
    const o = owner();
    const conn = pool.acquire(o);
    await o.connected;
    pool.retarget();
    pool.release(conn, true);
    expect(pool.idleCount).toBe(0);
    await until(() => conn.closed);
    pool.close();
  });

  it('hands a closed connection its read buffer to the next one, unless a write may still hold it', async () => {
    const readBuffers = new ReadBufferPool();
    const pool = new UpstreamPool({ address: '127.0.0.1', port }, systemClock, { readBuffers });
    const serverSide = (conn: UpstreamConnection) =>
      [...sockets].find((socket) => socket.remotePort === conn.socket.localPort)!;
    /** Opens a connection, has the upstream send `text`, and returns it with the memory it read into. */
    const readOnce = async (text: string, keep = false) => {
      const reads: { text: string; memory: ArrayBufferLike }[] = [];
      const o = owner();
      o.onUpstreamData = (conn, chunk) => {
        reads.push({ text: chunk.toString(), memory: chunk.buffer });
        if (keep) conn.keepReadBuffer();
      };
      const conn = pool.acquire(o);
      await o.connected;
      await until(() => serverSide(conn) !== undefined);
      serverSide(conn).write(text);
      await until(() => reads.length > 0);
      return { conn, reads, serverSide: serverSide(conn) };
    };

    const first = await readOnce('one');
    expect(first.reads[0]!.text).toBe('one');
    expect(readBuffers.freeCount).toBe(0);
    first.conn.destroy();
    await until(() => first.conn.closed);
    expect(readBuffers.freeCount).toBe(1);

    const second = await readOnce('two', true);
    expect(second.reads[0]).toEqual({ text: 'two', memory: first.reads[0]!.memory });
    expect(readBuffers.freeCount).toBe(0);
    // Kept: the next read lands elsewhere, and no kept buffer is handed on when the connection closes
    // (only the one it would have read into next).
    second.serverSide.write('three');
    await until(() => second.reads.length === 2);
    expect(second.reads[1]!.text).toBe('three');
    const kept = second.reads.map((read) => read.memory);
    expect(kept[1]).not.toBe(kept[0]);
    second.conn.destroy();
    await until(() => second.conn.closed);
    expect(readBuffers.freeCount).toBe(1);
    expect(kept).not.toContain(readBuffers.take().buffer);
    pool.close();
  });
});

describe('ReadBufferPool', () => {
  it('keeps at most maxFree buffers and hands out the last one given back first', () => {
    const buffers = new ReadBufferPool(2);
    const [a, b, c] = [buffers.take(), buffers.take(), buffers.take()];
    expect(new Set([a, b, c]).size).toBe(3);
    expect(a.length).toBe(64 * 1024);
    buffers.give(a);
    buffers.give(b);
    buffers.give(c);
    expect(buffers.freeCount).toBe(2);
    expect(buffers.take()).toBe(b);
    expect(buffers.take()).toBe(a);
    expect(buffers.take()).not.toBe(c);
  });
});
