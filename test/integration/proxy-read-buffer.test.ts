/**
 * Upstream connections read into one buffer they keep (onread), so response bytes the proxy could not
 * hand to a slow client at once must never be overwritten by the next read, on the same exchange or on
 * the next one that reuses the connection. Slow readers download distinct pseudo-random bodies
 * (length-delimited, chunked, decoded for HTTP/1.0) at the same time through one upstream endpoint, and
 * every byte is compared.
 */
import { Agent, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../../src/core/index.ts';
import {
  createProxy,
  createStaticSource,
  type ProxyListener,
  type TrellisProxy,
} from '../../src/proxy/index.ts';
import { bytesFor, instance, sha256, sleep, startUpstream, type Upstream } from './proxy-helpers.ts';

const MIB = 1024 * 1024;

/** Reads a response body in small steps with pauses, the first one long enough for bytes to pile up. */
function readSlowly(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.pause();
    setTimeout(() => res.resume(), 150);
    res.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      res.pause();
      setTimeout(() => res.resume(), 2);
    });
    res.on('end', () => resolve(Buffer.concat(parts)));
    res.on('error', reject);
  });
}

function download(port: number, agent: Agent, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
      else readSlowly(res).then(resolve, reject);
    }).on('error', reject);
  });
}

/** HTTP/1.0: the proxy decodes the chunked response and ends it by closing; read slowly too. */
function download10(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    socket.write(`GET ${path} HTTP/1.0\r\nhost: t\r\n\r\n`);
    socket.pause();
    setTimeout(() => socket.resume(), 150);
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      socket.pause();
      setTimeout(() => socket.resume(), 2);
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(parts);
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0 || !raw.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 200')) {
        reject(new Error(`${path}: ${raw.subarray(0, 200).toString('latin1')}`));
      } else {
        resolve(raw.subarray(end + 4));
      }
    });
  });
}

describe('proxy: upstream read buffers and slow clients', () => {
  let upstream: Upstream;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const [, kind, seed, size] = (req.url ?? '').split('/');
      const body = bytesFor(Number(seed), Number(size));
      if (kind === 'length') res.setHeader('content-length', body.length);
      // Half the body at once, to fill the socket buffers towards the slow client; then small irregular
      // pieces a few at a time, so that the proxy reads little at a time and its writes of those
      // queue behind the full buffers without reaching the write high-water mark.
      res.write(body.subarray(0, body.length >> 1));
      let offset = body.length >> 1;
      let step = 1;
      const pump = (): void => {
        for (let burst = 0; burst < 4 && offset < body.length; burst++) {
          step = (step * 7 + 3) % 6_007;
          const piece = body.subarray(offset, offset + 1 + step);
          offset += piece.length;
          res.write(piece);
        }
        if (offset < body.length) setImmediate(pump);
        else res.end();
      };
      pump();
    });
    const route: Route = {
      name: 'bytes',
      priority: 0,
      match: { path: { prefix: '/' } },
      service: 'bytes',
      stripPrefix: false,
      createdAt: 0,
    };
    proxy = createProxy({
      source: createStaticSource({ instances: [instance('bytes', upstream.port)], routes: [route] }),
      logger: pino({ level: 'silent' }),
    });
    gateway = await proxy.gateway({ port: 0 });
  });

  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('hands every byte over intact while connections are reused under queued writes', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const jobs: Array<Promise<void>> = [];
    const expectBody = async (body: Promise<Buffer>, seed: number, size: number) => {
      const got = await body;
      expect(got.length).toBe(size);
      expect(sha256(got)).toBe(sha256(bytesFor(seed, size)));
    };
    for (let client = 0; client < 6; client++) {
      jobs.push(
        (async () => {
          // Two requests each on a keep-alive connection, alternating the framing.
          for (let round = 0; round < 2; round++) {
            const seed = client * 10 + round + 1;
            const size = 6 * MIB + client * 7919 + round;
            const kind = (client + round) % 2 === 0 ? 'length' : 'chunked';
            await expectBody(download(gateway.port, agent, `/${kind}/${seed}/${size}`), seed, size);
          }
        })(),
      );
    }
    for (let client = 0; client < 2; client++) {
      const seed = 100 + client;
      const size = 6 * MIB + client;
      jobs.push(expectBody(download10(gateway.port, `/chunked/${seed}/${size}`), seed, size));
    }
    await Promise.all(jobs);
    agent.destroy();
    // Fewer upstream connections than exchanges: connections were reused after slow responses.
    expect(upstream.requests).toBe(14);
    expect(upstream.connections).toBeLessThan(14);
    await sleep(0);
  });
});
