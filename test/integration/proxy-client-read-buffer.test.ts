/**
 * Client connections read into one buffer each, reused from read to read (Node's onread), so request
 * bytes still pointed to after a read — queued behind a slow upstream, kept for a retry, or held as a
 * pipelined request — must never be overwritten by the next read. Uploads of distinct pseudo-random
 * bodies, sent in irregular pieces, are hashed where they land and compared.
 */
import { createHash } from 'node:crypto';
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userBufferReadsSupported } from '../../src/proxy/engine/socket-reads.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import {
  closeAll,
  plainPolicy,
  quickRetryPolicy,
  serviceRoute,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import { bytesFor, instance, parseResponses, sha256, startUpstream, type Upstream } from './proxy-helpers.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** Hashes the request body as it arrives, reading it slowly when asked, and answers with the hash. */
function hashBody(slow: boolean): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    if (slow) {
      req.pause();
      setTimeout(() => req.resume(), 200);
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

/** POSTs `body` in irregular pieces, a few per turn of the event loop; resolves with the JSON answer. */
function upload(
  port: number,
  agent: Agent,
  path: string,
  body: Buffer,
  chunked: boolean,
): Promise<{ status: number; answer: { sha: string; length: number } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, answer: JSON.parse(Buffer.concat(parts).toString()) });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('error', reject);
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

describe('proxy: client read buffers', () => {
  let slowUpstream: Upstream;
  let failing: Upstream;
  let fine: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    slowUpstream = await startUpstream(hashBody(true));
    // Reads the whole body, then answers 503: the gateway sends the kept body again, elsewhere.
    failing = await startUpstream((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 503;
        res.end('{}');
      });
    });
    fine = await startUpstream(hashBody(false));
    ({ proxy, gateway } = await startTestGateway({
      instances: [
        instance('slow', slowUpstream.port),
        instance('retried', failing.port),
        instance('retried', fine.port),
      ],
      routes: [serviceRoute('slow'), serviceRoute('retried')],
      policies: [
        plainPolicy('slow'),
        plainPolicy('retried', { retry: quickRetryPolicy('retried', { maxAttempts: 2 }) }),
      ],
    }));
  });

  afterAll(() => closeAll(proxy, slowUpstream, failing, fine));

  it('are used on this Node (the test below exercises them, not the stream fallback)', () => {
    expect(userBufferReadsSupported).toBe(true);
  });

  it('never overwrite body bytes queued behind a slow upstream', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    const jobs: Array<Promise<void>> = [];
    for (let client = 0; client < 6; client++) {
      jobs.push(
        (async () => {
          // Two uploads on each keep-alive connection, alternating the framing.
          for (let round = 0; round < 2; round++) {
            const body = bytesFor(client * 10 + round + 1, 6 * MIB + client * 7919 + round);
            const { status, answer } = await upload(
              gateway.port,
              agent,
              '/slow/up',
              body,
              (client + round) % 2 === 1,
            );
            expect(status).toBe(200);
            expect(answer.length).toBe(body.length);
            expect(answer.sha).toBe(sha256(body));
          }
        })(),
      );
    }
    await Promise.all(jobs);
    agent.destroy();
    expect(slowUpstream.requests).toBe(12);
  });

  it('never overwrite a body kept for a retry while the rest of it is read', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 4; i++) {
      // Under the retry buffer (64 KiB), read in many pieces, each after the one before was kept.
      const body = bytesFor(500 + i, 60 * KIB + i);
      const { status, answer } = await upload(gateway.port, agent, '/retried/up', body, i % 2 === 1);
      expect(status).toBe(200);
      expect(answer.length).toBe(body.length);
      expect(answer.sha).toBe(sha256(body));
    }
    agent.destroy();
    // Round-robin: every other first attempt went to the failing endpoint and was sent again.
    expect(failing.requests).toBeGreaterThanOrEqual(2);
    expect(fine.requests).toBe(4);
  });

  it('never overwrite pipelined requests waiting for the response before them', async () => {
    const bodies = [0, 1, 2, 3].map((i) => bytesFor(900 + i, 20 * KIB + i * 17));
    const wire = Buffer.concat(
      bodies.flatMap((body) => [
        Buffer.from(`POST /slow/p HTTP/1.1\r\nhost: t\r\ncontent-length: ${body.length}\r\n\r\n`),
        body,
      ]),
    );
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(gateway.port, '127.0.0.1');
      const parts: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        if (parseResponses(Buffer.concat(parts).toString('latin1')).length === bodies.length) {
          socket.destroy();
          resolve(Buffer.concat(parts).toString('latin1'));
        }
      });
      socket.on('error', reject);
      socket.write(wire);
    });
    const responses = parseResponses(raw);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(responses.map((r) => JSON.parse(r.body).sha)).toEqual(bodies.map(sha256));
  });
});
