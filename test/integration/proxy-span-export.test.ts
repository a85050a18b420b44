/**
 * A proxy's spans reach the control plane's /v1/traces in requests of at most 64 spans, so that no
 * export's JSON grows into V8's large-object space (see YOUNG_EXPORT_BATCH_SPANS), and none is lost.
 * Against a real HTTP receiver on 127.0.0.1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openObservability } from '../../src/proxy/data-plane/index.ts';
import { decodeTraceRequestJson, SpanKind } from '../../src/telemetry/index.ts';
import { silentLogger } from '../helpers/proxy-harness.ts';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function startControlStandIn(): Promise<{ url: string; spansPerRequest: number[] }> {
  const spansPerRequest: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        spansPerRequest.push(decodeTraceRequestJson(body).length);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spansPerRequest };
}

describe("a proxy's span export", () => {
  it('sends every span, at most 64 to a request', async () => {
    const control = await startControlStandIn();
    const observability = await openObservability(
      { tracing: { service: 'shop', sampleRatio: 1 } },
      { control: control.url, logger: silentLogger() },
    );
    const tracer = observability.tracing!.tracer;
    const hop = tracer.hop(SpanKind.Server);
    for (let i = 0; i < 300; i++) {
      const span = hop.beginFromHeaders(() => undefined);
      expect(span).not.toBeNull();
      span!.method = 'GET';
      span!.target = `/items/${i}`;
      hop.end(200);
    }
    await observability.close();

    expect(control.spansPerRequest.reduce((sum, spans) => sum + spans, 0)).toBe(300);
    expect(Math.max(...control.spansPerRequest)).toBeLessThanOrEqual(64);
    expect(control.spansPerRequest.length).toBeGreaterThanOrEqual(5);
  });
});
