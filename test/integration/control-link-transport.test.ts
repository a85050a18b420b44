/**
 * What the proxies' own control-plane transport does beyond the suites it shares with node:http
 * (client-transport, client-watch-transport): the framings a reply may use, interim replies, the
 * strict parser's refusals, header values that would break the request's framing, and span exports.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttp1Transport, createSpanPoster } from '../../src/proxy/index.ts';

interface Raw {
  url: string;
  /** Each request's bytes as received, one entry per request head (with its body). */
  requests: string[];
  connections(): number;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A raw server: `answer` gets each request's head and body and writes whatever it likes. */
async function raw(answer: (socket: Socket, head: string, body: string) => void): Promise<Raw> {
  const requests: string[] = [];
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.slice(0, end + 4);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const body = pending.slice(end + 4, end + 4 + length);
        pending = pending.slice(end + 4 + length);
        requests.push(head + body);
        answer(socket, head, body);
      }
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests, connections: () => accepted };
}

const GET = { method: 'GET', headers: {}, timeoutMs: 2_000 };

describe('the proxy transport', () => {
  it('reads content-length, chunked and close-delimited replies, skipping interim ones', async () => {
    const server = await raw((socket, head) => {
      if (head.startsWith('GET /length ')) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\nX-A: 2\r\n\r\nhello');
      } else if (head.startsWith('GET /chunked ')) {
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
        socket.write('3\r\nhel\r\n');
        setTimeout(() => socket.write('2;ext=1\r\nlo\r\n0\r\ntrailer: x\r\n\r\n'), 20);
      } else {
        socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close');
      }
    });
    const transport = createHttp1Transport(server.url, { keepAliveMs: 1_000 });
    const length = await transport.exchange(`${server.url}/length`, GET);
    expect(length).toEqual({ status: 200, headers: { 'content-length': '5', 'x-a': '1, 2' }, text: 'hello' });
    expect((await transport.exchange(`${server.url}/chunked`, GET)).text).toBe('hello');
    // Both on one kept-alive connection; the close-delimited reply ends it.
    expect(server.connections()).toBe(1);
    expect((await transport.exchange(`${server.url}/close`, GET)).text).toBe('until close');
    expect((await transport.exchange(`${server.url}/length`, GET)).text).toBe('hello');
    expect(server.connections()).toBe(2);
    await transport.close();
  });

  it('writes the request head itself: host, content-length, the path with its query', async () => {
    const server = await raw((socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    const transport = createHttp1Transport(`${server.url}/`);
    await transport.exchange(`${server.url}/api/v1/x?revision=3`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'content-length': 999, host: 'elsewhere' },
      body: '{"é":1}',
      timeoutMs: 2_000,
    });
    await transport.exchange(`${server.url}/empty`, { method: 'PUT', headers: {}, timeoutMs: 2_000 });
    const port = new URL(server.url).port;
    expect(server.requests).toEqual([
      `POST /api/v1/x?revision=3 HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
        `content-length: 8\r\nconnection: close\r\n\r\n${Buffer.from('{"é":1}', 'utf8').toString('latin1')}`,
      `PUT /empty HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    ]);
    await transport.close();
  });

  it('refuses a header that would break the framing, and a URL on another origin, sending nothing', async () => {
    const server = await raw((socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    const transport = createHttp1Transport(server.url);
    await expect(
      transport.exchange(`${server.url}/x`, {
        ...GET,
        headers: { authorization: 'Bearer a\r\nx-injected: 1' },
      }),
    ).rejects.toThrow(/invalid character in header "authorization"/);
    await expect(
      transport.exchange(`${server.url}/x`, { ...GET, headers: { 'bad name': 'v' } }),
    ).rejects.toThrow(/invalid header name/);
    await expect(transport.exchange('http://127.0.0.1:1/x', GET)).rejects.toThrow(/not on the control plane/);
    expect(server.connections()).toBe(0);
    await transport.destroy();
  });

  it.each([
    ['a bare LF', 'HTTP/1.1 200 OK\ncontent-length: 0\n\n'],
    [
      'Content-Length with Transfer-Encoding',
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
    ['an unasked protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n'],
  ])('fails a reply with %s and drops its connection', async (_name, reply) => {
    const server = await raw((socket) => socket.write(reply));
    const transport = createHttp1Transport(server.url, { keepAliveMs: 1_000 });
    await expect(transport.exchange(`${server.url}/x`, GET)).rejects.toThrow(
      /reply is malformed|switched protocols/,
    );
    await transport.close();
  });

  it('streams a chunked reply as it comes, and ends with it', async () => {
    const server = await raw((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n',
      );
      socket.write('6\r\nevent:\r\n');
      setTimeout(() => socket.write('4\r\n one\r\n0\r\n\r\n'), 20);
    });
    const transport = createHttp1Transport(server.url);
    const open = transport.stream(`${server.url}/api/v1/watch`, {
      headers: { accept: 'text/event-stream' },
      headTimeoutMs: 1_000,
      idleTimeoutMs: 1_000,
    });
    const reply = await open.response;
    expect(reply.status).toBe(200);
    const pieces: string[] = [];
    for await (const piece of reply.body) pieces.push(piece.toString());
    expect(pieces).toEqual(['event:', ' one']);
    await transport.destroy();
  });

  it('sends span exports to the control plane and reads their answer', async () => {
    const server = await raw((socket) =>
      socket.write('HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 4\r\n\r\nbusy'),
    );
    const poster = createSpanPoster(server.url);
    const answer = await poster.post(`${server.url}/v1/traces`, {
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"resourceSpans":[]}'),
      timeoutMs: 1_000,
    });
    expect(answer).toMatchObject({ status: 503, headers: { 'retry-after': '2' }, text: 'busy' });
    expect(server.requests[0]).toMatch(/^POST \/v1\/traces HTTP\/1\.1\r\n[\s\S]*content-length: 20\r\n/);
    poster.close();
  });
});
