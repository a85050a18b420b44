import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders, Settings } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { type Clock, loadHttp2, type TimerHandle } from '../../core/index.ts';
import type { PoolAddress } from './pool.ts';

export interface H2SessionPoolOptions {
  /**
   * A session with no stream open is closed (GOAWAY) after this long without traffic (default 60 s;
   * clusters pass the policy's idle timeout).
   */
  idleTimeoutMs?: number;
  /** A session not connected after this long fails its streams as a connect failure (default 5 s). */
  connectTimeoutMs?: number;
}

/** Streams assumed allowed on a first session until the peer's SETTINGS say (RFC 9113 suggests at least 100). */
const INITIAL_STREAM_LIMIT = 100;
const SESSION_SETTINGS: Settings = Object.freeze({ enablePush: false });

/**
 * One HTTP/2 prior-knowledge cleartext (h2c) session to an endpoint, carrying many streams at once.
 * It takes no new stream once retired: after a GOAWAY, a close, or when its pool retires it (the
 * endpoint moved, the pool closed); a retired session closes when its last stream has.
 */
export class H2Session {
  readonly session: ClientHttp2Session;
  readonly pool: H2SessionPool;
  connected = false;
  retired = false;
  closed = false;
  /** Streams open now. */
  active = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (until its SETTINGS arrive: what the last session heard). */
  limit: number;
  /** The session's error code (ECONNREFUSED, CONNECT_TIMEOUT, …), if it failed. */
  errorCode: string | undefined = undefined;
  private connectTimer: TimerHandle | null = null;

  constructor(
    pool: H2SessionPool,
    target: PoolAddress,
    clock: Clock,
    connectTimeoutMs: number,
    idleMs: number,
  ) {
    this.pool = pool;
    this.limit = pool.peerLimit;
    const host = target.address.includes(':') ? `[${target.address}]` : target.address;
    this.session = loadHttp2().connect(`http://${host}:${target.port}`, {
      settings: SESSION_SETTINGS,
      createConnection: () =>
        connectTcp({
          host: target.address,
          port: target.port,
          noDelay: true,
          keepAlive: true,
          keepAliveInitialDelay: 30_000,
        }),
    });
    const session = this.session;
    session.on('connect', this.onConnect);
    session.on('remoteSettings', this.onRemoteSettings);
    session.on('goaway', this.onGoaway);
    session.on('error', this.onError);
    session.on('close', this.onClose);
    session.on('timeout', this.onTimeout);
    if (idleMs > 0) session.setTimeout(idleMs);
    if (connectTimeoutMs > 0) {
      this.connectTimer = clock.setTimeout(() => {
        this.connectTimer = null;
        if (!this.connected && !this.closed) {
          this.errorCode = 'CONNECT_TIMEOUT';
          session.destroy();
        }
      }, connectTimeoutMs);
      this.connectTimer.unref?.();
    }
  }

  /** Whether it takes a new stream now. */
  get available(): boolean {
    const session = this.session;
    return !this.retired && this.active < this.limit && !session.closed && !session.destroyed;
  }

  /**
   * Opens a stream (queued by node until the session is connected); with `waitForTrailers` it stays
   * open after the body until sendTrailers. Throws what node throws for headers HTTP/2 cannot carry,
   * or for a session that went away meanwhile.
   */
  request(headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers = false): ClientHttp2Stream {
    const stream = this.session.request(headers, { endStream, waitForTrailers });
    this.active++;
    stream.on('close', this.onStreamClose);
    return stream;
  }

  /** Takes no new stream; closes once its streams are done. */
  retire(): void {
    this.retired = true;
    // Not before: node fails the streams of a session closed while connecting.
    if (this.active === 0 && !this.closed) this.session.close();
  }

  setIdleTimeout(ms: number): void {
    if (!this.closed) this.session.setTimeout(ms > 0 ? ms : 0);
  }

  private readonly onStreamClose = (): void => {
    this.active--;
    if (this.active === 0 && this.retired && !this.closed) this.session.close();
  };

  private readonly onConnect = (): void => {
    this.connected = true;
    this.clearConnectTimer();
  };

  private readonly onRemoteSettings = (settings: Settings): void => {
    const max = settings.maxConcurrentStreams;
    if (max === undefined) return;
    // A peer refusing all streams for now (0) gets them queued by node rather than a session each.
    this.limit = Math.max(1, max);
    this.pool.peerLimit = this.limit;
  };

  private readonly onGoaway = (): void => {
    this.retired = true;
    this.pool.onRetired(this);
  };

  private readonly onError = (error: NodeJS.ErrnoException): void => {
    this.errorCode ??= error.code ?? 'ERROR';
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.retired = true;
    this.clearConnectTimer();
    this.pool.onRetired(this);
  };

  /** No traffic for the idle timeout: close when no stream is open (a quiet stream keeps it). */
  private readonly onTimeout = (): void => {
    if (this.active === 0) {
      this.retire();
      this.pool.onRetired(this);
    }
  };

  private clearConnectTimer(): void {
    if (this.connectTimer === null) return;
    this.pool.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }
}

/**
 * The HTTP/2 sessions to one endpoint: normally one, multiplexing every stream; another is opened only
 * while every open one is at the peer's SETTINGS_MAX_CONCURRENT_STREAMS. Sessions that go away (GOAWAY,
 * close, idle timeout) are dropped, and the next stream opens a new one.
 */
export class H2SessionPool {
  /** The peer's last SETTINGS_MAX_CONCURRENT_STREAMS, assumed by a new session until its own arrive. */
  peerLimit = INITIAL_STREAM_LIMIT;
  /** Sessions taking new streams, oldest first. */
  private readonly sessions: H2Session[] = [];
  private closed = false;
  private idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;

  constructor(
    private readonly target: PoolAddress,
    readonly clock: Clock,
    options: H2SessionPoolOptions = {},
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  /** Sessions taking new streams. */
  get size(): number {
    return this.sessions.length;
  }

  /**
   * A session with room for a stream: the oldest that has some, or a new one. `fresh` opens a new one
   * (a retry after a stream lost with its session).
   */
  acquire(fresh = false): H2Session {
    const sessions = this.sessions;
    if (!fresh) {
      for (let i = 0; i < sessions.length; i++) {
        if (sessions[i].available) return sessions[i];
      }
    }
    const session = new H2Session(this, this.target, this.clock, this.connectTimeoutMs, this.idleTimeoutMs);
    // A closed pool still serves the exchanges in flight; their sessions close when done.
    if (this.closed) session.retired = true;
    else sessions.push(session);
    return session;
  }

  /** The policy's idle timeout changed. */
  setIdleTimeout(ms: number): void {
    if (ms === this.idleTimeoutMs) return;
    this.idleTimeoutMs = ms;
    for (const session of this.sessions) session.setIdleTimeout(ms);
  }

  /** The endpoint moved: sessions to the old address finish their streams and close. */
  retarget(): void {
    this.retireAll();
  }

  /** Closes every session once its streams are done. */
  close(): void {
    this.closed = true;
    this.retireAll();
  }

  /** @internal A session stopped taking streams. */
  onRetired(session: H2Session): void {
    const index = this.sessions.indexOf(session);
    if (index >= 0) this.sessions.splice(index, 1);
  }

  private retireAll(): void {
    const sessions = this.sessions.splice(0);
    for (const session of sessions) session.retire();
  }
}
