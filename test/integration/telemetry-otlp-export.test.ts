/** The OTLP/HTTP exporter against a real receiving HTTP server on 127.0.0.1. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createOtlpExporter,
  createTracer,
  decodeTraceRequestJson,
  otlpTracesUrl,
  type SpanData,
  SpanKind,
} from '../../src/telemetry/index.ts';
import { eventually } from '../helpers/control.ts';

interface Received {
  headers: IncomingMessage['headers'];
  spans: SpanData[];
  at: number;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Answers a request; the default accepts. */
  answer: (req: IncomingMessage, res: ServerResponse, index: number) => void;
  requests: number;
  close(): Promise<void>;
}

const servers: Server[] = [];

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: [],
    requests: 0,
    answer: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    },
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const index = receiver.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Buffer = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const spans = decodeTraceRequestJson(JSON.parse(body.toString('utf8')));
      const before = res.statusCode;
      receiver.answer(req, res, index);
      if (res.statusCode === 200 && before === 200)
        receiver.received.push({ headers: req.headers, spans, at: Date.now() });
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/** Finished spans from a real tracer, exported as the proxy would. */
function spans(count: number): SpanData[] {
  const out: SpanData[] = [];
  const tracer = createTracer({ service: 'orders', sink: { export: (span) => out.push(span) } });
  const hop = tracer.hop(SpanKind.Server);
  for (let i = 0; i < count; i++) {
    const span = hop.begin(undefined)!;
    span.method = 'GET';
    span.target = `/orders/${i}`;
    hop.end(200);
  }
  return out;
}

describe('OTLP/HTTP exporter', () => {
  it('sends full batches at once and the rest on the flush interval, as OTLP/JSON', async () => {
    const receiver = await startReceiver();
    const exporter = createOtlpExporter({ url: receiver.url, maxBatchSize: 4, flushIntervalMs: 300 });
    const sent = spans(10);
    const started = Date.now();
    for (const span of sent) exporter.export(span);
    await eventually(() => receiver.received.length === 2, 5_000);
    expect(receiver.received.map((request) => request.spans.length)).toEqual([4, 4]);
    // The remainder waits for the interval (generous bounds: the machine is shared).
    await eventually(() => receiver.received.length === 3, 5_000);
    expect(receiver.received[2]!.spans).toHaveLength(2);
    expect(receiver.received[2]!.at - started).toBeGreaterThanOrEqual(250);
    const ids = receiver.received.flatMap((request) => request.spans.map((span) => span.spanId));
    expect(ids).toEqual(sent.map((span) => span.spanId));
    const first = receiver.received[0]!;
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.spans[0]!.resource.serviceName).toBe('orders');
    expect(first.spans[0]!.attributes['url.path']).toBe('/orders/0');
    expect(exporter.stats()).toMatchObject({ exported: 10, dropped: 0, failed: 0, queued: 0, batches: 3 });
    await exporter.close();
  });

  it('retries after a 503 (honouring Retry-After) and after a refused connection', async () => {
    const receiver = await startReceiver();
    receiver.answer = (_req, res, index) => {
      if (index === 0) res.writeHead(503, { 'retry-after': '0' }).end('busy');
      else res.writeHead(200).end('{}');
    };
    const exporter = createOtlpExporter({ url: receiver.url, flushIntervalMs: 50, backoffBaseMs: 20 });
    for (const span of spans(3)) exporter.export(span);
    await exporter.flush();
    expect(receiver.requests).toBe(2);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.spans).toHaveLength(3);
    expect(exporter.stats()).toMatchObject({ exported: 3, retries: 1, failed: 0 });
    await exporter.close();

    // Nothing listens on the port at first; the receiver comes up while the exporter retries.
    const port = Number(new URL(receiver.url).port);
    await receiver.close();
    const late = createOtlpExporter({
      url: `http://127.0.0.1:${port}/v1/traces`,
      backoffBaseMs: 100,
      maxRetries: 10,
    });
    for (const span of spans(2)) late.export(span);
    const flushed = late.flush();
    await eventually(() => late.stats().retries >= 1, 5_000);
    const again = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    servers.push(again);
    await new Promise<void>((resolve) => again.listen(port, '127.0.0.1', resolve));
    await flushed;
    expect(late.stats()).toMatchObject({ exported: 2, failed: 0 });
    await late.close();
  });

  it('gives up on a batch after a non-retryable answer or the last retry, and says so', async () => {
    const receiver = await startReceiver();
    receiver.answer = (_req, res) => res.writeHead(400).end('{"error":"bad"}');
    const errors: string[] = [];
    const exporter = createOtlpExporter({
      url: receiver.url,
      onError: (error, count) => errors.push(`${count}: ${error.message}`),
    });
    for (const span of spans(2)) exporter.export(span);
    await exporter.flush();
    expect(receiver.requests).toBe(1);
    expect(exporter.stats()).toMatchObject({ exported: 0, failed: 2, retries: 0 });
    expect(errors[0]).toMatch(/^2: .*answered 400/);

    receiver.answer = (_req, res) => res.writeHead(500).end();
    const persistent = createOtlpExporter({ url: receiver.url, maxRetries: 2, backoffBaseMs: 5 });
    persistent.export(spans(1)[0]!);
    await persistent.flush();
    expect(persistent.stats()).toMatchObject({ failed: 1, retries: 2 });
    await Promise.all([exporter.close(), persistent.close()]);
  });

  it('drops and counts spans beyond its queue while the collector is slow, without blocking', async () => {
    const receiver = await startReceiver();
    const held: ServerResponse[] = [];
    receiver.answer = (_req, res) => {
      held.push(res);
    };
    const exporter = createOtlpExporter({
      url: receiver.url,
      maxQueueSize: 8,
      maxBatchSize: 4,
      timeoutMs: 30_000,
    });
    const batch = spans(4);
    for (const span of batch) exporter.export(span);
    // The first batch is in flight and unanswered; the queue takes 8 more, the rest are dropped.
    await eventually(() => held.length === 1, 5_000);
    const more = spans(20);
    const started = performance.now();
    for (const span of more) exporter.export(span);
    const elapsed = performance.now() - started;
    expect(exporter.stats()).toMatchObject({ queued: 8, dropped: 12 });
    // Recording never waits for the network (a loose bound: 20 pushes take microseconds).
    expect(elapsed).toBeLessThan(200);
    for (const res of held.splice(0)) res.writeHead(200).end('{}');
    receiver.answer = (_req, res) => res.writeHead(200).end('{}');
    await exporter.close();
    expect(exporter.stats()).toMatchObject({ exported: 12, dropped: 12, queued: 0 });
    exporter.export(spans(1)[0]!);
    expect(exporter.stats().dropped).toBe(13);
  });

  it('delivers what is queued on close, gzip-compressed when asked', async () => {
    const receiver = await startReceiver();
    const exporter = createOtlpExporter({
      url: receiver.url,
      flushIntervalMs: 60_000,
      compression: 'gzip',
      headers: { authorization: 'Bearer t0k3n' },
    });
    for (const span of spans(5)) exporter.export(span);
    expect(receiver.requests).toBe(0);
    await exporter.close();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.spans).toHaveLength(5);
    expect(receiver.received[0]!.headers['content-encoding']).toBe('gzip');
    expect(receiver.received[0]!.headers.authorization).toBe('Bearer t0k3n');
  });

  it('appends /v1/traces to a bare endpoint and keeps an explicit path', () => {
    expect(otlpTracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl('https://collector/custom/path')).toBe('https://collector/custom/path');
    expect(() => otlpTracesUrl('ftp://collector')).toThrow(RangeError);
  });
});
