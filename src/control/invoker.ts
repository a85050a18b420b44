/**
 * How the control plane reaches its own proxy: one undici Pool to the proxy's internal outbound
 * listener (127.0.0.1, an ephemeral port). Service invocation goes through it, so a call gets the
 * proxy's balancing, circuit breakers, retries, timeouts and mesh errors, exactly as the gateway does.
 */
import { type Dispatcher, Pool } from 'undici';
import { MeshError } from '../core/index.ts';

export interface MeshInvoker {
  /** One request to the proxy; the response body streams. */
  request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  /** Waits for the requests in progress, then closes the connections. */
  close(): Promise<void>;
}

export interface MeshInvokerOptions {
  host: string;
  port: number;
  /** Most connections to the proxy at once (default 256); further requests wait in the pool. */
  connections?: number;
}

export function createMeshInvoker(options: MeshInvokerOptions): MeshInvoker {
  // Below the proxy's client idle timeout (60 s), so the proxy rarely closes a connection under us.
  const pool = new Pool(`http://${options.host}:${options.port}`, {
    connections: options.connections ?? 256,
    keepAliveTimeout: 4_000,
  });
  let closing: Promise<void> | undefined;
  return {
    request: (request) => pool.request(request),
    close() {
      closing ??= pool.close();
      return closing;
    },
  };
}

/**
 * A failure of the hop to the proxy (the proxy's own failures arrive as responses) as a MeshError.
 * `timedOut`: the caller's timeout aborted the request.
 */
export function invocationError(error: unknown, timedOut: boolean): MeshError {
  if (timedOut) {
    return new MeshError('UPSTREAM_TIMEOUT', 'the call did not complete within its timeout', {
      cause: error,
    });
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return new MeshError('NOT_READY', 'the control plane is stopping: its proxy takes no more calls', {
        cause: error,
      });
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new MeshError('UPSTREAM_TIMEOUT', `the upstream did not answer in time (${message})`, {
        cause: error,
      });
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return new MeshError('BAD_REQUEST', `the request cannot be forwarded: ${message}`, { cause: error });
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return new MeshError('UPSTREAM_RESET', `the connection closed before the response was complete`, {
        cause: error,
      });
    default:
      return new MeshError('INTERNAL', `the call failed: ${message}`, { cause: error });
  }
}
