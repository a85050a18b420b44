/**
 * Busy polling through real sockets: a request to an endpoint whose replies come within the window
 * makes the proxy poll from the request's write until the reply arrives; an endpoint whose replies
 * come later is soon not polled for. The loop poller is the native one, wrapped to count what it is asked.
 */
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { type LoopPoller, loadLoopPoller } from '../../src/proxy/engine/index.ts';
import { closeAll, serviceRoute, startTestGateway, type TestProxy } from '../helpers/proxy-harness.ts';
import {
  echo,
  instance,
  policy,
  RawClient,
  request,
  sleep,
  startUpstream,
  type Upstream,
} from './proxy-helpers.ts';

/** The native poller, counting its polls and stops, and whether it was polling when each reply came. */
function countingPoller() {
  const native = loadLoopPoller();
  if (native === undefined) throw new Error('native/busy_poll is not built: npm rebuild builds it');
  const counts = { polls: 0, stops: 0 };
  const loop: LoopPoller = {
    poll(ms) {
      counts.polls++;
      return native.poll(ms);
    },
    stop() {
      counts.stops++;
      native.stop();
    },
  };
  return { loop, counts };
}

describe('busy polling', () => {
  let made: (TestProxy & { gateway: { port: number; close(): Promise<void> } }) | undefined;
  let upstream: Upstream | undefined;

  afterEach(async () => {
    await closeAll(made?.proxy, upstream);
    made = undefined;
    upstream = undefined;
  });

  async function gatewayTo(handler: Parameters<typeof startUpstream>[0], busyPollMs: number) {
    upstream = await startUpstream(handler);
    return gatewayToPort(upstream.port, busyPollMs, false);
  }

  async function gatewayToPort(port: number, busyPollMs: number, h2c: boolean) {
    const { loop, counts } = countingPoller();
    made = await startTestGateway(
      {
        instances: [instance('svc', port)],
        routes: [serviceRoute('svc')],
        policies: [policy('svc', h2c ? { upstreamProtocol: 'h2c' } : {})],
      },
      { busyPollMs, loopPoller: loop },
    );
    return counts;
  }

  it('polls from each request to its reply when the upstream answers within the window', async () => {
    const counts = await gatewayTo(echo('fast'), 10);
    for (let i = 0; i < 20; i++) {
      const reply = await request(made!.gateway.port, 'POST', '/svc/x', { body: `body ${i}` });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ name: 'fast', body: `body ${i}` });
    }
    // One request at a time: each one polled, and its reply ended the polling.
    expect(counts.polls).toBe(20);
    expect(counts.stops).toBe(20);
  });

  it('polls from the end of a body that follows its head upstream', async () => {
    const counts = await gatewayTo(echo('fast'), 10);
    const client = await RawClient.open(made!.gateway.port);
    try {
      client.socket.write('POST /svc/x HTTP/1.1\r\nhost: test\r\ncontent-length: 10\r\n\r\nhello');
      // The head and the first half are upstream by now; no reply is due before the rest.
      await sleep(100);
      expect(counts.polls).toBe(0);
      const reply = await client.send('world');
      expect(JSON.parse(reply.body)).toMatchObject({ name: 'fast', body: 'helloworld' });
      expect(counts.polls).toBe(1);
      expect(counts.stops).toBe(1);
    } finally {
      client.socket.destroy();
    }
  });

  it('stops polling for an endpoint whose replies come later than the window', async () => {
    const slow = echo('slow');
    const counts = await gatewayTo((req, res) => setTimeout(() => slow(req, res), 20), 2);
    for (let i = 0; i < 12; i++)
      expect((await request(made!.gateway.port, 'GET', '/svc/x')).status).toBe(200);
    // Each late reply lowers the endpoint's share of timely ones; after seven it is under a half,
    // and the next 31 requests are not polled for.
    expect(counts.polls).toBe(7);
  });

  it('polls for h2c responses too, with bodies sent after the head', async () => {
    const server: Http2Server = createH2Server((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => res.end(`h2 ${body}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const counts = await gatewayToPort((server.address() as { port: number }).port, 10, true);
      for (let i = 0; i < 10; i++) {
        const reply = await request(made!.gateway.port, 'POST', '/svc/x', { body: `b${i}` });
        expect(reply.body).toBe(`h2 b${i}`);
      }
      expect(counts.polls).toBe(10);
      expect(counts.stops).toBe(10);
    } finally {
      await closeAll(made?.proxy);
      made = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('does not poll when off', async () => {
    const counts = await gatewayTo(echo('fast'), 0);
    for (let i = 0; i < 5; i++) expect((await request(made!.gateway.port, 'GET', '/svc/x')).status).toBe(200);
    expect(counts.polls).toBe(0);
  });
});
