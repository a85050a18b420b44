import { connect } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProxy,
  createStaticSource,
  type ProxyListener,
  type TrellisProxy,
} from '../../src/proxy/index.ts';
import { instance, parseResponses, rawExchange, sleep, startRawServer } from './proxy-helpers.ts';

const logger = pino({ level: 'silent' });
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: victim\r\n\r\n';
const P = 'POST /login HTTP/1.1\r\nHost: victim\r\n';

/** Each payload must be refused with this status before anything reaches the upstream. */
const payloads: Array<[string, string, number]> = [
  ['CL.TE', `${P}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
  ['TE.CL', `${P}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, 400],
  ['TE xchunked', `${P}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
  ['TE space before colon', `${P}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, 400],
  ['TE repeated', `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE chunked, identity', `${P}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400],
  ['TE gzip, chunked', `${P}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
  ['TE obs-fold', `${P}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 400],
  ['TE in HTTP/1.0', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['conflicting CL', `${P}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400],
  ['CL with sign', `${P}Content-Length: +5\r\n\r\nhello`, 400],
  ['bad chunk size', `${P}Transfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n${SMUGGLED}`, 400],
  ['chunk size 0x', `${P}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`, 400],
  ['negative chunk size', `${P}Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk data longer than its size', `${P}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, 400],
  ['bare LF in head', `GET / HTTP/1.1\nHost: victim\n\n`, 400],
  ['space in target', `GET /a b HTTP/1.1\r\nHost: victim\r\n\r\n`, 400],
  ['missing host', `GET / HTTP/1.1\r\n\r\n`, 400],
  [
    'connection naming content-length',
    `${P}Connection: content-length\r\nContent-Length: 5\r\n\r\nhello`,
    400,
  ],
];

describe('request smuggling through the proxy', () => {
  let upstream: Awaited<ReturnType<typeof startRawServer>>;
  let received = '';
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    // Answers each complete request (bodies by Content-Length or up to the last chunk).
    upstream = await startRawServer((socket) => {
      let buffer = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        buffer += chunk.toString('latin1');
        for (;;) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buffer.slice(0, end);
          let next = end + 4;
          if (/\r\ntransfer-encoding: chunked/i.test(head)) {
            const last = buffer.indexOf('0\r\n\r\n', next);
            if (last < 0) return;
            next = last + 5;
          } else {
            next += Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
            if (buffer.length < next) return;
          }
          buffer = buffer.slice(next);
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    const source = createStaticSource({
      instances: [instance('victim', upstream.port)],
      routes: [{ name: 'all', priority: 0, match: {}, service: 'victim', stripPrefix: false, createdAt: 0 }],
    });
    proxy = createProxy({ source, logger });
    gateway = await proxy.gateway({ port: 0 });
  });

  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it.each(payloads)('%s is refused and never reaches the upstream', async (_name, payload, status) => {
    const connectionsBefore = upstream.connections;
    received = '';
    const raw = await rawExchange(gateway.port, payload);
    const responses = parseResponses(raw);
    expect(responses).toHaveLength(1);
    expect(responses[0].status).toBe(status);
    expect(responses[0].headers['x-trellis-error']).toBe('BAD_REQUEST');
    expect(responses[0].headers.connection).toBe('close');
    expect(received).toBe('');
    expect(upstream.connections).toBe(connectionsBefore);
  });

  it('a bad chunk arriving after the head went upstream: 400, and the rest never follows', async () => {
    received = '';
    const socket = connect(gateway.port, '127.0.0.1');
    let reply = '';
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
    });
    socket.write(`${P}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    await sleep(100);
    socket.write(`ZZ\r\n\r\n${SMUGGLED}`);
    await closed;
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(received).not.toContain('/admin');
    expect(received).not.toContain('ZZ');
  });

  it('still serves well-formed requests', async () => {
    const raw = await rawExchange(
      gateway.port,
      'GET / HTTP/1.1\r\nHost: victim\r\nconnection: close\r\n\r\n',
    );
    expect(parseResponses(raw)[0].status).toBe(200);
  });
});
