/**
 * Client connections read into one buffer each, reused from read to read (Node's onread), so request
 * bytes still pointed to after a read — queued behind a slow upstream, kept for a retry, held as a
 * pipelined request, or written to an HTTP/2 stream that has not sent them yet (HTTP/2 sends from the
 * caller's memory) — must never be overwritten by the next read, and while none are, reads stay in
 * the same buffer. Uploads of distinct pseudo-random bodies, sent in irregular pieces, are hashed
 * where they land and compared, toward HTTP/1.1 and h2c upstreams; new buffers are counted.
 */
import { Agent } from 'node:http';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServicePolicy } from '../../src/core/index.ts';
import { userBufferReadsSupported } from '../../src/proxy/engine/socket-reads.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { ReadBufferPool } from '../../src/proxy/upstream/index.ts';
import { startH2Upstream } from '../helpers/h2-upstream.ts';
import {
  closeAll,
  plainPolicy,
  quickRetryPolicy,
  serviceRoute,
  startTestGateway,
} from '../helpers/proxy-harness.ts';
import {
  bytesFor,
  hashBody,
  instance,
  parseResponses,
  RawClient,
  sha256,
  startUpstream,
  type Upstream,
  type UpstreamResponse,
  upload,
} from './proxy-helpers.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

type UpstreamProtocol = ServicePolicy['upstreamProtocol'];
type Handler = (req: Readable, res: UpstreamResponse) => void;

/** A node:http upstream, or a node:http2 h2c one (its sessions as connections, its streams as requests). */
async function startServing(protocol: UpstreamProtocol, handler: Handler): Promise<Upstream> {
  if (protocol === 'http1') return startUpstream(handler);
  const h2 = await startH2Upstream(handler);
  return {
    port: h2.port,
    get connections() {
      return h2.sessions;
    },
    get requests() {
      return h2.streams;
    },
    close: () => h2.close(),
  };
}

it('client connections read into buffers of their own on this Node (the tests below exercise them)', () => {
  expect(userBufferReadsSupported).toBe(true);
});

describe.each<UpstreamProtocol>(['http1', 'h2c'])(
  'proxy to %s upstreams: client read buffers',
  (protocol) => {
    let slowUpstream: Upstream;
    let failing: Upstream;
    let fine: Upstream;
    let proxy: TrellisProxy;
    let gateway: ProxyListener;

    beforeAll(async () => {
      slowUpstream = await startServing(protocol, hashBody(true));
      // Reads the whole body, then answers 503: the gateway sends the kept body again, elsewhere.
      failing = await startServing(protocol, (req, res) => {
        req.resume();
        req.on('end', () => {
          res.statusCode = 503;
          res.end('{}');
        });
      });
      fine = await startServing(protocol, hashBody(false));
      ({ proxy, gateway } = await startTestGateway({
        instances: [
          instance('slow', slowUpstream.port),
          instance('retried', failing.port),
          instance('retried', fine.port),
          instance('quick', fine.port),
        ],
        routes: [serviceRoute('slow'), serviceRoute('retried'), serviceRoute('quick')],
        policies: [
          plainPolicy('slow', { upstreamProtocol: protocol }),
          plainPolicy('retried', {
            upstreamProtocol: protocol,
            retry: quickRetryPolicy('retried', { maxAttempts: 2 }),
          }),
          plainPolicy('quick', { upstreamProtocol: protocol }),
        ],
      }));
    });

    afterEach(() => vi.restoreAllMocks());
    afterAll(() => closeAll(proxy, slowUpstream, failing, fine));

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

    it('stay in the same buffer while no request bytes are held (GETs on one connection)', async () => {
      const client = await RawClient.open(gateway.port);
      expect((await client.request('GET', '/quick/')).status).toBe(200); // the upstream connection or session
      const take = vi.spyOn(ReadBufferPool.prototype, 'take');
      for (let i = 0; i < 50; i++) expect((await client.request('GET', '/quick/')).status).toBe(200);
      expect(take).not.toHaveBeenCalled();
      client.socket.destroy();
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
  },
);
