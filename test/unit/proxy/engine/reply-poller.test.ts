import { describe, expect, it } from 'vitest';
import { type LoopPoller, type PolledEndpoint, ReplyPoller } from '../../../../src/proxy/engine/index.ts';

/** A loop poller that records what it is asked; `expire()` ends polling as the window running out does. */
function fakeLoop() {
  const calls: string[] = [];
  let polling = false;
  const loop: LoopPoller & { calls: string[]; polling: () => boolean; expire(): void } = {
    calls,
    polling: () => polling,
    poll(ms) {
      calls.push(`poll ${ms}`);
      const was = polling;
      polling = true;
      return was;
    },
    stop() {
      calls.push('stop');
      polling = false;
    },
    expire() {
      polling = false;
    },
  };
  return loop;
}

const endpoint = (): PolledEndpoint => ({ pollHits: 1, pollSkips: 0 });

describe('ReplyPoller', () => {
  it('polls from the first awaited reply until the last one arrives', () => {
    const loop = fakeLoop();
    const poller = new ReplyPoller(loop, 0.25);
    const target = endpoint();
    const first = poller.expect();
    const second = poller.expect();
    expect(loop.calls).toEqual(['poll 0.25', 'poll 0.25']);
    poller.settle(first, target, 0.1);
    expect(loop.polling()).toBe(true);
    poller.settle(second, target, 0.1);
    expect(loop.polling()).toBe(false);
    expect(loop.calls.at(-1)).toBe('stop');
  });

  it('forgets waits that outlasted the window: their late settling stops nothing', () => {
    const loop = fakeLoop();
    const poller = new ReplyPoller(loop, 0.25);
    const target = endpoint();
    const lost = poller.expect(); // its exchange failed: never settled in time
    loop.expire();
    const fresh = poller.expect();
    poller.settle(lost, target);
    expect(loop.polling()).toBe(true);
    poller.settle(fresh, target, 0.1);
    expect(loop.polling()).toBe(false);
  });

  it('stops polling for an endpoint whose replies stop coming within the window, but for probes', () => {
    const loop = fakeLoop();
    const poller = new ReplyPoller(loop, 0.25);
    const target = endpoint();
    const sendAndReply = (waitedMs: number): boolean => {
      const token = poller.expectFrom(target);
      poller.settle(token, target, waitedMs); // token 0 (not polled for): settles nothing
      return token !== 0;
    };
    // Replies after 0.4 ms: the share of timely ones falls from 1 below a half in seven replies.
    let polled = 0;
    while (sendAndReply(0.4)) polled++;
    expect(polled).toBe(7);
    expect(target.pollHits).toBeLessThan(0.5);
    // From then on one request in 32 is polled for, to find out whether replies come sooner again.
    const decisions = Array.from({ length: 64 }, () => sendAndReply(0.4));
    expect(decisions.filter(Boolean)).toHaveLength(2);
    // They do: polling resumes once the probes have seen enough timely replies.
    let probes = 0;
    while (target.pollHits < 0.5) if (sendAndReply(0.1)) probes++;
    expect(probes).toBeGreaterThan(0);
    expect(poller.worthPolling(target)).toBe(true);
    // A wait that ends without a reply (the exchange failed) says nothing about the endpoint.
    const hits = target.pollHits;
    poller.settle(poller.expect(), target);
    expect(target.pollHits).toBe(hits);
  });
});
