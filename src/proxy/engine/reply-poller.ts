/**
 * Busy polling while a fast upstream's reply is due.
 *
 * A proxied request wakes the proxy twice: when the request arrives and when the upstream's reply
 * does. Between the two the event loop sleeps in epoll_wait, and on a virtual machine a vCPU with
 * nothing to run is halted: waking it for the reply takes the hypervisor 50-100 µs, about as long
 * as everything else the hop costs. Measured on the 2-vCPU VM of bench:proxy at 1,000 req/s, the
 * reply reached the sidecar 113 µs (median) after the request left it while the loop slept, 56 µs
 * while it polled, and the added latency at the client fell by ~60 µs (harness, paced wrk). So
 * while a request awaits a reply that is due soon, the loop polls for I/O without blocking instead
 * of sleeping: from the moment the whole request is upstream until the reply's first bytes, never
 * longer than the window, so the CPU it spends per request is at most the window. An endpoint is
 * polled for while most of the replies polled for came within the window; when they stop coming so
 * soon (a slow upstream, a busy machine), polling for it stops but for one request in 32, which
 * finds out when they do again. When no request awaits a reply, nothing polls. HAProxy's
 * `busy-polling` does the same without these bounds (its loop never sleeps).
 *
 * The polling itself is native/busy-poll.c (an unreferenced libuv idle handle; a setImmediate loop
 * would allocate an object per iteration). Where it was not built, there is no busy polling.
 */

import { loadNativeModule } from '../native-modules.ts';

/** A busy poller of this thread's event loop (native/busy-poll.c). */
export interface LoopPoller {
  /** Polls without blocking until `ms` from now (or later, if already asked to); whether it was polling already. */
  poll(ms: number): boolean;
  /** Back to sleeping until I/O arrives. */
  stop(): void;
}

/** A new poller of this thread's event loop, or undefined where native/busy-poll is not built. */
export function loadLoopPoller(root?: URL): LoopPoller | undefined {
  return loadNativeModule<{ create(): LoopPoller }>('busy_poll', root)?.create();
}

/** What the poller keeps per endpoint: how often polling for its replies paid off. */
export interface PolledEndpoint {
  /** Share of the replies polled for that came within the window, a moving average (starts at 1). */
  pollHits: number;
  /** Requests sent without polling since the last one polled for. */
  pollSkips: number;
}

/** How much an endpoint's share of timely replies moves with each reply polled for. */
const HIT_WEIGHT = 0.1;
/** Below this share of timely replies an endpoint is not polled for, */
const MIN_HITS = 0.5;
/** except for one request in this many, which measures the share again. */
const PROBE_EVERY = 32;

/**
 * Counts the replies awaited and polls while any is. A wait that is never settled (its exchange
 * failed) ends with the window: once polling has stopped, the next `expect` starts a new count, and
 * tokens of the old one settle nothing.
 */
export class ReplyPoller {
  private awaiting = 0;
  private run = 1;

  constructor(
    private readonly loop: LoopPoller,
    readonly windowMs: number,
  ) {}

  /**
   * Whether to poll for the reply to a request just sent to `endpoint`: when most of its replies
   * polled for came within the window (and now and then when not, to find out whether they do again).
   */
  worthPolling(endpoint: PolledEndpoint): boolean {
    if (endpoint.pollHits >= MIN_HITS) return true;
    if (++endpoint.pollSkips < PROBE_EVERY) return false;
    endpoint.pollSkips = 0;
    return true;
  }

  /** The whole request went to `endpoint`: polls for its reply if worth it. Its token for `settle`, or 0. */
  expectFrom(endpoint: PolledEndpoint): number {
    return this.worthPolling(endpoint) ? this.expect() : 0;
  }

  /** A request went out whose reply is due within the window: polls until `settle`. Returns its token. */
  expect(): number {
    if (!this.loop.poll(this.windowMs)) {
      // Polling had stopped: every earlier wait was settled or outlasted its window.
      this.run++;
      this.awaiting = 0;
    }
    this.awaiting++;
    return this.run;
  }

  /**
   * The reply expected under `token` began to arrive `waitedMs` after its request went to `endpoint`
   * (or will not: `waitedMs` undefined).
   */
  settle(token: number, endpoint: PolledEndpoint, waitedMs?: number): void {
    if (token === 0) return;
    if (waitedMs !== undefined) {
      endpoint.pollHits += ((waitedMs <= this.windowMs ? 1 : 0) - endpoint.pollHits) * HIT_WEIGHT;
    }
    if (token === this.run && --this.awaiting === 0) this.loop.stop();
  }
}

/** One exchange's wait for its upstream's reply, polled for or not; reused from attempt to attempt. */
export class ReplyWait {
  private token = 0;
  private endpoint: PolledEndpoint | null = null;

  constructor(private readonly poller: ReplyPoller | null) {}

  /** The whole request is upstream at `endpoint`: polls for the reply if worth it (once per attempt). */
  begin(endpoint: PolledEndpoint): void {
    if (this.poller === null || this.token !== 0) return;
    this.token = this.poller.expectFrom(endpoint);
    this.endpoint = endpoint;
  }

  /** The reply began to arrive `waitedMs` after the attempt started (undefined: it will not). */
  end(waitedMs?: number): void {
    if (this.token === 0) return;
    this.poller!.settle(this.token, this.endpoint!, waitedMs);
    this.token = 0;
  }
}
