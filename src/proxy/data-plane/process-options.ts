import type { BackoffOptions } from '../../client/index.ts';
import type { Clock, Logger } from '../../core/index.ts';

/** The options a gateway and a sidecar share: workers, draining, observability, logging, time. */
export interface ProxyProcessOptions {
  /** How long shutting down waits for exchanges in progress (default 10 s). */
  drainTimeout?: string | number;
  /**
   * While a request awaits a reply from an upstream whose replies come within this long, poll for
   * it instead of sleeping (default 250us; 0 or 0ms: off). See src/proxy/engine/reply-poller.ts.
   */
  busyPoll?: string | number;
  /** Proxy processes (default 1: the listeners run in this process). */
  workers?: number;
  /**
   * Share of new traces sampled, 0-1 (default 0.01); requests bringing a decision follow it. Spans (a
   * gateway's one per request, service `gateway`; a sidecar's one per hop, named by its `service`) go
   * to the control plane's `/v1/traces`.
   */
  sampleRatio?: number;
  /** `off` (default), `stdout` or a file: one JSON line per request. */
  accessLog?: string;
  /** Prometheus text at `http://<host>:<port>/metrics` (every worker's metrics summed); default off. */
  metricsPort?: number;
  logger?: Logger;
  /** The workers' log level (default: the logger's). */
  logLevel?: string;
  clock?: Clock;
  random?: () => number;
  /**
   * Reconnecting to the control plane, and a sidecar's retrying its registration (default 100 ms
   * doubling up to 5 s).
   */
  backoff?: BackoffOptions;
}
