import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoBuffers } from '../../../../src/proxy/engine/socket-reads.ts';

/** A server whose accepted sockets are handed to `accept`, and a client connected to it. */
async function pair(
  accept: (socket: Socket) => void,
): Promise<{ server: Server; client: Socket; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    accept(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  return { server, client, accepted };
}

const until = (check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const poll = (): void => {
      if (check()) resolve();
      else setTimeout(poll, 2);
    };
    poll();
  });

describe('readIntoBuffers', () => {
  let opened: Awaited<ReturnType<typeof pair>> | undefined;

  afterEach(async () => {
    opened?.client.destroy();
    for (const socket of opened?.accepted ?? []) socket.destroy();
    await new Promise<void>((resolve) => opened?.server.close(() => resolve()) ?? resolve());
    opened = undefined;
  });

  it('reads an accepted socket into the buffers given, asking for the next after each read', async () => {
    const buffers = [Buffer.alloc(8), Buffer.alloc(8)];
    let asked = 0;
    const reads: Array<{ text: string; same: boolean }> = [];
    let dataEvents = 0;
    let ended = false;
    opened = await pair((socket) => {
      const next = (): Buffer => buffers[asked++ % 2]!;
      expect(
        readIntoBuffers(socket, next, (length, buffer) => {
          reads.push({
            text: buffer.toString('latin1', 0, length),
            same: buffer === buffers[(asked - 1) % 2],
          });
          return true;
        }),
      ).toBe(true);
      socket.on('data', () => dataEvents++);
      socket.on('end', () => {
        ended = true;
        socket.end();
      });
    });
    opened.client.write('hello');
    await until(() => reads.length === 1);
    opened.client.write('world, longer than eight');
    await until(() => reads.map((r) => r.text).join('') === 'helloworld, longer than eight');
    opened.client.end();
    await until(() => ended);
    // Each read went to the buffer asked for last; reads past 8 bytes were split.
    expect(reads.every((r) => r.same)).toBe(true);
    expect(reads.length).toBeGreaterThanOrEqual(4);
    expect(asked).toBe(reads.length + 1);
    expect(dataEvents).toBe(0);
  });

  it('stops reading while paused and reads on after resume', async () => {
    let accepted: Socket | undefined;
    let received = '';
    opened = await pair((socket) => {
      accepted = socket;
      const buffer = Buffer.alloc(64);
      readIntoBuffers(
        socket,
        () => buffer,
        (length, into) => {
          received += into.toString('latin1', 0, length);
          return true;
        },
      );
    });
    opened.client.write('a');
    await until(() => received === 'a');
    accepted!.pause();
    opened.client.write('b');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toBe('a');
    accepted!.resume();
    await until(() => received === 'ab');
  });
});
