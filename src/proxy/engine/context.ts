import type { Clock, Logger } from '../../core/index.ts';
import type { ListenerStats, RouteStatsHolder } from '../../telemetry/proxy-stats.ts';
import type { CannedResponse } from '../error-responses.ts';
import type { RequestHead } from '../http1/index.ts';
import type { Cluster, ExchangeSettings, ReadBufferPool } from '../upstream/index.ts';
import type { ReplyPoller } from './reply-poller.ts';
import type { ExchangeTelemetry } from './trace-hooks.ts';

/**
 * Where a request goes, written by the listener's resolver into an object the connection reuses:
 * either `error`, or `cluster` and `settings` with optional rewrites of the target and Host.
 */
export interface Resolution {
  cluster: Cluster | null;
  settings: ExchangeSettings | null;
  error: CannedResponse | null;
  /** Replacement request-target (origin-form), e.g. with a prefix stripped. */
  target: string | undefined;
  /** Replacement Host value. */
  host: string | undefined;
  /** The gateway route that matched (its metrics are kept per route); null in other modes. */
  route: RouteStatsHolder | null;
}

/** How a listener mode finds the target of a request; must not keep `head` (it is reused). */
export type Resolver = (head: RequestHead, out: Resolution) => void;

/** What the connections of one listener share. */
export interface EngineContext {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly resolve: Resolver;
  /**
   * Keep `x-forwarded-proto` / `x-forwarded-host`, `x-forwarded-port` and `forwarded` sent by the client
   * (sidecars, whose clients are the local app or another sidecar); a gateway replaces or drops them.
   */
  readonly trustForwarded: boolean;
  /** A client connection with no request in progress is closed after this long. */
  readonly clientIdleTimeoutMs: number;
  /** Uniform in [0, 1), for retry jitter. */
  readonly random: () => number;
  /** Where exchanges are counted and timed; null: metrics off. */
  readonly metrics: ListenerStats | null;
  /** Tracing and the access log of this listener's exchanges; null: both off. */
  readonly telemetry: ExchangeTelemetry | null;
  /** Busy-polls while fast upstreams' replies are due; null: the loop always sleeps between events. */
  readonly replyPoller: ReplyPoller | null;
  /** Where client connections take the buffers they read into (and give them back on close). */
  readonly readBuffers: ReadBufferPool;
  /** Set when the listener closes: responses say `connection: close` and connections end. */
  draining: boolean;
  /** Called by each connection when it has closed. */
  onClose(connection: object): void;
}
