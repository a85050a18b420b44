/**
 * What the HTTP/1.1 and h2c exchanges must do alike, seen from the client, toward HTTP/1.1 and h2c
 * upstreams: the idle timeout counting every upstream byte (interim responses too) as activity, and
 * a response head passed on when it comes, not held until the body's first bytes.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServicePolicy } from '../../src/core/index.ts';
import type { ProxyListener, TrellisProxy } from '../../src/proxy/index.ts';
import { startH2Upstream } from '../helpers/h2-upstream.ts';
import { closeAll, plainPolicy, serviceRoute, startTestGateway } from '../helpers/proxy-harness.ts';
import { instance, parseResponses, rawExchange, startUpstream } from './proxy-helpers.ts';

type UpstreamProtocol = ServicePolicy['upstreamProtocol'];

/** The policy's idle timeout; the upstream sends a 103 every IDLE_MS / 3, HINTS times, then answers. */
const IDLE_MS = 600;
const HINTS = 5;

/** What the hinting upstream answers through (node:http's and node:http2's compatibility response alike). */
interface HintingResponse {
  writeEarlyHints(hints: Record<string, string>): void;
  end(body: string): unknown;
}

/** Sends HINTS Early Hints IDLE_MS / 3 apart, then 200 `done`: never idle for IDLE_MS, but slower in all. */
function hinting(_req: unknown, res: HintingResponse): void {
  let sent = 0;
  const next = (): void => {
    if (sent === HINTS) {
      res.end('done');
      return;
    }
    sent++;
    res.writeEarlyHints({ link: `</hint${sent}.css>; rel=preload` });
    setTimeout(next, IDLE_MS / 3);
  };
  setTimeout(next, IDLE_MS / 3);
}

/** What the streaming upstream answers through (node:http's and node:http2's compatibility response alike). */
interface StreamingResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  /** node:http's; node:http2's compatibility response sends the head from writeHead. */
  flushHeaders?(): void;
  end(body: string): unknown;
}

describe.each<UpstreamProtocol>(['http1', 'h2c'])('proxy to %s upstreams: parity', (protocol) => {
  let upstream: { port: number; close(): Promise<void> };
  let streaming: { port: number; close(): Promise<void> };
  /** Ends the streaming upstream's pending response with its one event. */
  let sendEvent: (() => void) | undefined;
  let proxy: TrellisProxy;
  let gateway: ProxyListener;

  // Sends its head at once and its body only when the test says so.
  function stream(_req: unknown, res: StreamingResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders?.();
    sendEvent = () => res.end('data: hello\n\n');
  }

  beforeAll(async () => {
    upstream = protocol === 'http1' ? await startUpstream(hinting) : await startH2Upstream(hinting);
    streaming = protocol === 'http1' ? await startUpstream(stream) : await startH2Upstream(stream);
    ({ proxy, gateway } = await startTestGateway({
      instances: [instance('hinting', upstream.port), instance('events', streaming.port)],
      policies: [
        plainPolicy('hinting', {
          upstreamProtocol: protocol,
          timeout: { requestMs: 30_000, idleMs: IDLE_MS },
        }),
        plainPolicy('events', { upstreamProtocol: protocol }),
      ],
      routes: [serviceRoute('hinting'), serviceRoute('events')],
    }));
  });

  afterAll(() => closeAll(proxy, upstream, streaming));

  it('passes a response head on before any of its body came (server-sent events)', async () => {
    const socket = connect(gateway.port, '127.0.0.1');
    socket.setEncoding('latin1');
    let received = '';
    try {
      // Resolves once the whole head is here: it never is if the proxy holds it for the body.
      const head = await new Promise<string>((resolve, reject) => {
        socket.on('data', (chunk: string) => {
          received += chunk;
          if (received.includes('\r\n\r\n')) resolve(received);
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error(`closed; got ${JSON.stringify(received)}`)));
        socket.write('GET /events/stream HTTP/1.1\r\nhost: test\r\n\r\n');
      });
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head.toLowerCase()).toContain('content-type: text/event-stream');
      expect(sendEvent).toBeDefined();
      const whole = new Promise<void>((resolve) =>
        socket.on('data', () => {
          if (parseResponses(received).length === 1) resolve();
        }),
      );
      sendEvent!();
      await whole;
      expect(parseResponses(received)[0]!.body).toBe('data: hello\n\n');
    } finally {
      socket.destroy();
    }
  });

  it('counts interim responses (103 Early Hints) as activity for the idle timeout', async () => {
    const raw = await rawExchange(
      gateway.port,
      'GET /hinting/page HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n',
      10_000,
    );
    const responses = parseResponses(raw);
    expect(
      responses.map((response) => response.status),
      raw,
    ).toEqual([...Array(HINTS).fill(103), 200]);
    expect(responses[HINTS]!.body).toBe('done');
  });
});
