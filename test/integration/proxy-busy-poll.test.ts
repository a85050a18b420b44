/**
 * Busy polling through real sockets: a request to an endpoint whose replies come within the window
 * makes the proxy poll from the request's write until the reply arrives; an endpoint whose replies
 * come later is soon not polled for. The loop poller is the native one, wrapped to count what it is asked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type LoopPoller, loadLoopPoller } from '../../src/proxy/engine/index.ts';
import { closeAll, serviceRoute, startTestGateway, type TestProxy } from '../helpers/proxy-harness.ts';
import { echo, instance, policy, request, startUpstream, type Upstream } from './proxy-helpers.ts';

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
    const { loop, counts } = countingPoller();
    made = await startTestGateway(
      {
        instances: [instance('svc', upstream.port)],
        routes: [serviceRoute('svc')],
        policies: [policy('svc')],
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

  it('stops polling for an endpoint whose replies come later than the window', async () => {
    const slow = echo('slow');
    const counts = await gatewayTo((req, res) => setTimeout(() => slow(req, res), 20), 2);
    for (let i = 0; i < 12; i++)
      expect((await request(made!.gateway.port, 'GET', '/svc/x')).status).toBe(200);
    // Each late reply lowers the endpoint's share of timely ones; after seven it is under a half,
    // and the next 31 requests are not polled for.
    expect(counts.polls).toBe(7);
  });

  it('does not poll when off', async () => {
    const counts = await gatewayTo(echo('fast'), 0);
    for (let i = 0; i < 5; i++) expect((await request(made!.gateway.port, 'GET', '/svc/x')).status).toBe(200);
    expect(counts.polls).toBe(0);
  });
});
