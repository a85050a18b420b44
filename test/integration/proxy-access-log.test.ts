/**
 * The gateway's access log, written to a real file: one line per request on a kept-alive connection,
 * with the request's body bytes as framed on the wire (`bytesIn`) and every byte of its response
 * written to the client, head included (`bytesOut`), toward HTTP/1.1 and h2c upstreams.
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
import { closeAll, plainPolicy, serviceRoute, startTestGateway } from '../helpers/proxy-harness.ts';
import { instance, RawClient, startUpstream, type UpstreamResponse } from './proxy-helpers.ts';

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

describe.each<UpstreamProtocol>(['http1', 'h2c'])('gateway access log toward %s upstreams', (protocol) => {
  let dir: string;
  let file: string;
  let upstream: { port: number; close(): Promise<void> };
  let accessLog: AccessLog;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-access-'));
    file = join(dir, 'access.log');
    upstream = protocol === 'http1' ? await startUpstream(echoBody) : await startH2Upstream(echoBody);
    accessLog = await openAccessLog({ destination: file, flushIntervalMs: 50 });
    ({ proxy, gateway } = await startTestGateway(
      {
        instances: [instance('logged', upstream.port)],
        policies: [plainPolicy('logged', { upstreamProtocol: protocol })],
        routes: [serviceRoute('logged')],
      },
      { accessLog },
    ));
  });

  afterAll(async () => {
    await closeAll(proxy, accessLog, upstream);
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

      await accessLog.flush();
      const lines = (await readFile(file, 'utf8'))
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
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
});
