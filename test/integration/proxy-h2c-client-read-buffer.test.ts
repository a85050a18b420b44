/**
 * A client connection whose requests go to an h2c upstream reads into the same buffer from read to
 * read, as toward HTTP/1.1 upstreams, except while request bytes of a read are still referenced:
 * body parts kept for a retry or not yet on a stream, or written to a stream that has not sent them
 * yet (HTTP/2 sends them from the caller's memory). Uploads of distinct pseudo-random bodies, sent in
 * irregular pieces, are hashed where they land; reads into new buffers are counted.
 */
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServicePolicy } from '../../src/core/index.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { ReadBufferPool } from '../../src/proxy/upstream/index.ts';
import {
  closeAll,
  plainPolicy,
  quickRetryPolicy,
  serviceRoute,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import { bytesFor, instance, sha256, startUpstream, type Upstream } from './proxy-helpers.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

interface H2Upstream {
  port: number;
  readonly streams: number;
  close(): Promise<void>;
}

async function startH2Upstream(
  handler: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
): Promise<H2Upstream> {
  const state = { streams: 0 };
  const server: Http2Server = createH2Server((req, res) => {
    state.streams++;
    handler(req, res);
  });
  server.on('session', (session) => session.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const sessions = new Set<{ destroy(): void }>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  return {
    port: (server.address() as { port: number }).port,
    get streams() {
      return state.streams;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Hashes the request body as it arrives, reading it slowly when asked, and answers with the hash. */
function hashBody(slow: boolean): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  return (req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    if (slow) {
      req.pause();
      setTimeout(() => req.resume(), 100);
    }
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (slow) {
        req.pause();
        setTimeout(() => req.resume(), 1);
      }
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sha: hash.digest('hex'), length }));
    });
  };
}

/** Sends `method path` with `body` (in irregular pieces, a few per turn of the event loop); the status and body. */
function send(
  port: number,
  agent: Agent,
  method: string,
  path: string,
  body: Buffer | null,
  chunked = false,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== null) {
      if (chunked) headers['transfer-encoding'] = 'chunked';
      else headers['content-length'] = body.length;
    }
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    if (body === null) {
      req.end();
      return;
    }
    let offset = 0;
    let step = 1;
    const pump = (): void => {
      for (let burst = 0; burst < 3 && offset < body.length; burst++) {
        step = (step * 7 + 3) % 9_001;
        const piece = body.subarray(offset, offset + 1 + step);
        offset += piece.length;
        req.write(piece);
      }
      if (offset < body.length) setTimeout(pump, 1);
      else req.end();
    };
    pump();
  });
}

async function upload(
  port: number,
  agent: Agent,
  path: string,
  body: Buffer,
  chunked: boolean,
): Promise<void> {
  const { status, text } = await send(port, agent, 'POST', path, body, chunked);
  expect(status).toBe(200);
  const answer = JSON.parse(text) as { sha: string; length: number };
  expect(answer.length).toBe(body.length);
  expect(answer.sha).toBe(sha256(body));
}

function h2c(service: string, changes: Parameters<typeof plainPolicy>[1] = {}): ServicePolicy {
  return plainPolicy(service, { upstreamProtocol: 'h2c', ...changes });
}

describe('proxy to h2c upstreams: client read buffers', () => {
  let slow: H2Upstream;
  let failing: H2Upstream;
  let fine: H2Upstream;
  let plain: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    slow = await startH2Upstream(hashBody(true));
    // Reads the whole body, then answers 503: the gateway sends the kept body again, elsewhere.
    failing = await startH2Upstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 503;
        res.end('{}');
      });
    });
    fine = await startH2Upstream(hashBody(false));
    plain = await startUpstream((_req, res) => res.end('plain'));
    ({ proxy, gateway } = await startTestGateway({
      instances: [
        instance('slow', slow.port),
        instance('retried', failing.port),
        instance('retried', fine.port),
        instance('quick', fine.port),
        instance('plain', plain.port),
      ],
      routes: [serviceRoute('slow'), serviceRoute('retried'), serviceRoute('quick'), serviceRoute('plain')],
      policies: [
        h2c('slow'),
        h2c('retried', { retry: quickRetryPolicy('retried', { maxAttempts: 2 }) }),
        h2c('quick'),
        plainPolicy('plain'),
      ],
    }));
  });

  afterEach(() => vi.restoreAllMocks());
  afterAll(() => closeAll(proxy, slow, failing, fine, plain));

  it('never overwrite body bytes a stream has not sent yet (a slow upstream)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const jobs: Array<Promise<void>> = [];
    for (let client = 0; client < 4; client++) {
      jobs.push(
        (async () => {
          for (let round = 0; round < 2; round++) {
            const body = bytesFor(client * 10 + round + 1, 2 * MIB + client * 7919 + round);
            await upload(gateway.port, agent, '/slow/up', body, (client + round) % 2 === 1);
          }
        })(),
      );
    }
    await Promise.all(jobs);
    agent.destroy();
    expect(slow.streams).toBe(8);
  });

  it('never overwrite a body kept for a retry while the rest of it is read', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = { failing: failing.streams, fine: fine.streams };
    for (let i = 0; i < 4; i++) {
      // Under the retry buffer (64 KiB), read in many pieces.
      await upload(gateway.port, agent, '/retried/up', bytesFor(500 + i, 60 * KIB + i), i % 2 === 1);
    }
    agent.destroy();
    // Round-robin: every other first attempt went to the failing endpoint and was sent again.
    expect(failing.streams - before.failing).toBeGreaterThanOrEqual(2);
    expect(fine.streams - before.fine).toBe(4);
  });

  it('read into the same buffer while no request bytes are held, as toward HTTP/1.1', async () => {
    /** New read buffers taken while `rounds` GETs go one after another over one keep-alive connection. */
    const takenFor = async (path: string, rounds: number): Promise<number> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      await send(gateway.port, agent, 'GET', path, null); // the connection, with its first buffer
      const take = vi.spyOn(ReadBufferPool.prototype, 'take');
      for (let i = 0; i < rounds; i++)
        expect((await send(gateway.port, agent, 'GET', path, null)).status).toBe(200);
      const taken = take.mock.calls.length;
      take.mockRestore();
      agent.destroy();
      return taken;
    };
    expect(await takenFor('/plain/', 50)).toBe(0);
    expect(await takenFor('/quick/', 50)).toBe(0);
  });
});
