/** Active health checks, run by the control plane. Durations are milliseconds. */
interface CheckTiming {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive passes before an instance becomes healthy. */
  successesBeforeHealthy: number;
  /** Consecutive failures before an instance becomes unhealthy. */
  failuresBeforeUnhealthy: number;
  /** Remove the instance once it has been unhealthy this long; 0 keeps it forever. */
  deregisterAfterMs: number;
}

/** 2xx is healthy, 429 is degraded, anything else or a timeout is a failure. */
export interface HttpCheck extends CheckTiming {
  type: 'http';
  /** Absolute URL to probe. */
  url: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
}

export interface TcpCheck extends CheckTiming {
  type: 'tcp';
  address: string;
  port: number;
}

/** Passes while the instance keeps sending heartbeats at least every `ttlMs`. */
export interface TtlCheck extends CheckTiming {
  type: 'ttl';
  ttlMs: number;
}

export type HealthCheck = HttpCheck | TcpCheck | TtlCheck;
