/**
 * The gateway's access log, written to a real file: one line per request on a kept-alive connection,
 * with the request's body bytes as framed on the wire (`bytesIn`) and every byte of its response
 * written to the client, head included (`bytesOut`), mesh errors too, toward HTTP/1.1 and h2c
 * upstreams, with the proxy's metrics on and off.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServicePolicy } from '../../src/core/index.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { type AccessLog, openAccessLog } from '../../src/telemetry/index.ts';
import { startH2Upstream } from '../helpers/h2-upstream.ts';
import { freePort } from '../helpers/ports.ts';
import { closeAll, plainPolicy, serviceRoute, startTestGateway } from '../helpers/proxy-harness.ts';
import {
  instance,
  parseResponses,
  RawClient,
  rawExchange,
  startRawServer,
  startUpstream,
  type UpstreamResponse,
} from './proxy-helpers.ts';

type UpstreamProtocol = ServicePolicy['upstreamProtocol'];

/** Answers `{ body }` with the request body it read (node:http and node:http2 alike). */
function echoBody(req: Readable, res: UpstreamResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ body: Buffer.concat(chunks).toString('latin1') }));
  });
}

describe.each<{ protocol: UpstreamProtocol; metrics: boolean }>([
  { protocol: 'http1', metrics: true },
  { protocol: 'h2c', metrics: true },
  { protocol: 'http1', metrics: false },
  { protocol: 'h2c', metrics: false },
])('gateway access log toward $protocol upstreams (metrics: $metrics)', ({ protocol, metrics }) => {
  let dir: string;
  let file: string;
  let upstream: { port: number; close(): Promise<void> };
  let accessLog: AccessLog;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;
  /** Where the `unreachable` service's only instance is: nothing listens there. */
  let deadPort: number;
  /** The `malformed` service (HTTP/1.1 whatever `protocol` is): answers with two Content-Lengths. */
  let malformed: { port: number; close(): Promise<void> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-access-'));
    file = join(dir, 'access.log');
    upstream = protocol === 'http1' ? await startUpstream(echoBody) : await startH2Upstream(echoBody);
    deadPort = await freePort();
    malformed = await startRawServer((socket) =>
      socket.once('data', () =>
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab'),
      ),
    );
    accessLog = await openAccessLog({ destination: file, flushIntervalMs: 50 });
    ({ proxy, gateway } = await startTestGateway(
      {
        instances: [
          instance('logged', upstream.port),
          instance('unreachable', deadPort),
          instance('malformed', malformed.port),
        ],
        policies: [
          plainPolicy('logged', { upstreamProtocol: protocol }),
          plainPolicy('unreachable', { upstreamProtocol: protocol }),
          plainPolicy('malformed'),
        ],
        routes: [serviceRoute('logged'), serviceRoute('unreachable'), serviceRoute('malformed')],
      },
      metrics ? { accessLog } : { accessLog, metrics: false },
    ));
  });

  /** The lines written so far, once every line logged is written. */
  async function loggedLines(): Promise<Array<Record<string, unknown>>> {
    await accessLog.flush();
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  afterAll(async () => {
    await closeAll(proxy, accessLog, upstream, malformed);
    await rm(dir, { recursive: true, force: true });
  });

  it('logs each request of a connection with its own body and response byte counts', async () => {
    const client = await RawClient.open(gateway.port);
    try {
      const fixed = await client.request('POST', '/logged/fixed', {}, 'x'.repeat(300));
      const chunkedBody = '5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n';
      const chunked = await client.send(
        `POST /logged/chunked HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n${chunkedBody}`,
      );
      const get = await client.request('GET', '/logged/get');
      for (const reply of [fixed, chunked, get]) expect(reply.status, reply.raw).toBe(200);
      expect(JSON.parse(chunked.body).body).toBe('hello, world');

      const lines = await loggedLines();
      const byPath = (path: string) => lines.find((line) => line.path === path);
      const wireBytes = (raw: string) => Buffer.byteLength(raw, 'latin1');

      expect(byPath('/logged/fixed')).toMatchObject({
        type: 'access',
        direction: 'gateway',
        method: 'POST',
        route: 'logged',
        service: 'logged',
        endpoint: `127.0.0.1:${upstream.port}`,
        status: 200,
        attempts: 1,
        bytesIn: 300,
        bytesOut: wireBytes(fixed.raw),
      });
      expect(byPath('/logged/chunked')).toMatchObject({
        bytesIn: chunkedBody.length,
        bytesOut: wireBytes(chunked.raw),
      });
      expect(byPath('/logged/get')).toMatchObject({
        method: 'GET',
        bytesIn: 0,
        bytesOut: wireBytes(get.raw),
      });
      expect(lines).toHaveLength(3);
    } finally {
      client.close();
    }
  });

  it('counts the mesh error responses it writes in bytesOut, as any other response', async () => {
    const client = await RawClient.open(gateway.port);
    let failed: Awaited<ReturnType<RawClient['request']>>;
    try {
      failed = await client.request('GET', '/unreachable/x');
    } finally {
      client.close();
    }
    expect(failed.headers['x-trellis-error']).toBe('UPSTREAM_CONNECT_FAILED');
    // A malformed chunk size: the request is refused (400) and the connection closed.
    const refusedRaw = await rawExchange(
      gateway.port,
      'POST /logged/bad HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    );
    expect(parseResponses(refusedRaw)[0]?.status, refusedRaw).toBe(400);
    // A malformed response from the upstream: 502, and the connection closed.
    const badGatewayRaw = await rawExchange(gateway.port, 'GET /malformed/x HTTP/1.1\r\nhost: test\r\n\r\n');
    expect(parseResponses(badGatewayRaw)[0]?.headers['x-trellis-error'], badGatewayRaw).toBe('BAD_GATEWAY');

    const lines = await loggedLines();
    const byPath = (path: string) => lines.find((line) => line.path === path);
    expect(byPath('/unreachable/x')).toMatchObject({
      service: 'unreachable',
      endpoint: `127.0.0.1:${deadPort}`,
      status: 502,
      error: 'UPSTREAM_CONNECT_FAILED',
      attempts: 1,
      bytesOut: Buffer.byteLength(failed.raw, 'latin1'),
    });
    expect(byPath('/logged/bad')).toMatchObject({
      status: 400,
      error: 'BAD_REQUEST',
      attempts: 0,
      bytesOut: Buffer.byteLength(refusedRaw, 'latin1'),
    });
    expect(byPath('/malformed/x')).toMatchObject({
      status: 502,
      error: 'BAD_GATEWAY',
      attempts: 1,
      bytesOut: Buffer.byteLength(badGatewayRaw, 'latin1'),
    });
  });

  it('logs the answers given before any cluster was reached, with their bytes', async () => {
    const client = await RawClient.open(gateway.port);
    let noRoute: Awaited<ReturnType<RawClient['request']>>;
    let spent: Awaited<ReturnType<RawClient['request']>>;
    try {
      noRoute = await client.request('GET', '/nowhere');
      // A deadline (x-trellis-deadline, ms since the epoch) that passed long ago.
      spent = await client.request('GET', '/logged/late', { 'x-trellis-deadline': '1000000000000' });
    } finally {
      client.close();
    }
    expect(noRoute.headers['x-trellis-error']).toBe('NO_ROUTE');
    expect(spent.headers['x-trellis-error']).toBe('UPSTREAM_TIMEOUT');
    // CONNECT is refused and the connection closed.
    const connectRaw = await rawExchange(
      gateway.port,
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
    );
    expect(parseResponses(connectRaw)[0]?.status, connectRaw).toBe(405);

    const lines = await loggedLines();
    const byPath = (path: string) => lines.find((line) => line.path === path);
    expect(byPath('/nowhere')).toMatchObject({
      status: 404,
      error: 'NO_ROUTE',
      attempts: 0,
      bytesOut: Buffer.byteLength(noRoute.raw, 'latin1'),
    });
    expect(byPath('/logged/late')).toMatchObject({
      service: 'logged',
      status: 504,
      error: 'UPSTREAM_TIMEOUT',
      attempts: 0,
      bytesOut: Buffer.byteLength(spent.raw, 'latin1'),
    });
    expect(byPath('example.com:443')).toMatchObject({
      method: 'CONNECT',
      status: 405,
      error: 'METHOD_NOT_ALLOWED',
      bytesOut: Buffer.byteLength(connectRaw, 'latin1'),
    });
  });
});
