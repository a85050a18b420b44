/** The SDK's public types: what `connect()` takes and what the `Mesh` it returns offers. */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Headers, Response } from 'undici';
import type { Clock, Instance, ServicePolicy } from '../core/index.ts';

export interface ConnectOptions {
  /** Base URL of the control plane, e.g. http://127.0.0.1:7400. */
  control: string;
  /** Admin token, when the control plane requires one. */
  token?: string;
  /** Default: silent. */
  logger?: Logger;
  clock?: Clock;
  /** Uniform in [0, 1): balancers and retry jitter. Default `Math.random`. */
  random?: () => number;
  /**
   * How long `connect()` waits for the first view of the mesh (`10s` or ms; default 10 s). The
   * watch keeps retrying within it; when it passes, `connect()` rejects with CONTROL_PLANE_UNAVAILABLE.
   */
  connectTimeout?: string | number;
  /**
   * Deregister every instance and close on SIGTERM and SIGINT. When nothing else listens for the
   * signal the process is then ended by it as usual; otherwise ending it is left to the other listeners.
   */
  handleSignals?: boolean;
  /**
   * Trace every `mesh.fetch()`: a CLIENT span per call, exported in OTLP to the control plane's
   * collector (`<control>/v1/traces`), and W3C trace context passed on to the callee. Without it,
   * calls still carry on whatever `traceparent` they are given, but no span is made.
   */
  tracing?: TracingOptions;
}

export interface TracingOptions {
  /** `service.name` of this process's spans: the caller in the mesh's topology. */
  service: string;
  /** Share of new traces sampled, 0-1 (default 1); a call continuing a trace follows its parent's decision. */
  sampleRatio?: number;
}

/** W3C trace context to continue: what `mesh.traceContext(req.headers)` returns. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

export interface RegisterOptions {
  service: string;
  port: number;
  /** Default 127.0.0.1. */
  address?: string;
  /** Default `<service>-<address>-<port>`. */
  id?: string;
  /** An HTTP check of this path on the instance; without it a TTL check kept alive by heartbeats. */
  healthPath?: string;
  /** The TTL of the heartbeat check (default `10s`), used without `healthPath`; heartbeats go every third of it. */
  ttl?: string | number;
  /** How often the control plane runs the check (default 10 s). */
  checkInterval?: string | number;
  tags?: string[];
  metadata?: Record<string, string>;
  weight?: number;
  zone?: string;
  version?: string;
}

/** One instance this process registered. */
export interface Registration {
  readonly id: string;
  readonly service: string;
  /** As the control plane answered the registration. */
  readonly instance: Instance;
  /** Stops the heartbeats and removes the instance; safe to call more than once. */
  deregister(): Promise<void>;
}

/** Request bodies. Strings and bytes are buffered (so they can be retried); streams are not. */
export type MeshBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | URLSearchParams
  | Blob
  | Readable
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

/** Anything `new Headers()` takes: a record, pairs, or a Headers object. */
export type MeshHeadersInit =
  | Record<string, string | readonly string[]>
  | Iterable<readonly [string, string]>
  | Iterable<readonly string[]>;

export interface MeshFetchInit {
  /** Default GET. */
  method?: string;
  headers?: MeshHeadersInit;
  body?: MeshBody | null;
  /** Aborts the call, including its retries and the response body. */
  signal?: AbortSignal | null;
  /** The whole call, all attempts (`2s` or ms; 0: none); overrides the service policy's request timeout. */
  timeout?: string | number;
  /** The ip-hash balancer's key, when the policy names no `hashHeader`. */
  hashKey?: string;
  /**
   * The trace this call belongs to (e.g. `mesh.traceContext(req.headers)` of the request being
   * served, or a traceparent string); it replaces any `traceparent`/`tracestate` in `headers`.
   */
  parent?: TraceContext | string;
}

/** What `mesh.fetch()` resolves with: undici's WHATWG Response. */
export type MeshResponse = Response;

/** A call as request interceptors see it; they may change any field or return a new object. */
export interface MeshRequest {
  service: string;
  /** Path and query, starting with `/`. */
  path: string;
  /** Upper case. */
  method: string;
  headers: Headers;
  body: MeshBody | null;
  /** The call's timeout in ms, if it overrides the policy's. */
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  hashKey: string | undefined;
}

export type RequestInterceptor = (
  request: MeshRequest,
) => MeshRequest | undefined | Promise<MeshRequest | undefined>;
export type ResponseInterceptor = (response: Response, request: MeshRequest) => Response | Promise<Response>;
/** Turns a failed call (a MeshError, an abort…) into a response, or throws (the same or another error). */
export type ErrorInterceptor = (error: unknown, request: MeshRequest) => Response | Promise<Response>;

export interface InterceptorManager<F, E = never> {
  /** Adds an interceptor after the others; returns its id for `eject`. */
  use(onFulfilled: F, onRejected?: E): number;
  eject(id: number): void;
  clear(): void;
}

/**
 * Interceptors run once per `mesh.fetch()` call, in the order they were added: request
 * interceptors before an endpoint is picked, response interceptors on the call's final outcome
 * (after retries), never on attempts that were retried away. Every attempt sends the request as the
 * request interceptors left it. An error thrown by a request interceptor rejects the call as it is;
 * errors of the call itself (MeshErrors, aborts) go through the response interceptors' `onRejected`.
 */
export interface Interceptors {
  request: InterceptorManager<RequestInterceptor>;
  response: InterceptorManager<ResponseInterceptor, ErrorInterceptor>;
}

export interface Mesh {
  /** Registers an instance with the control plane; see RegisterOptions. */
  register(options: RegisterOptions): Promise<Registration>;
  /**
   * Calls `service` at `path` through the mesh: an endpoint from the live view picked by the
   * service's balancer, circuit breakers, outlier detection, retries, timeouts and the deadline
   * header, as in the proxy. Resolves with the upstream's response (whatever its status); rejects
   * with a MeshError when the mesh could not get one (NO_HEALTHY_UPSTREAM, CIRCUIT_OPEN, OVERFLOW,
   * UPSTREAM_TIMEOUT, UPSTREAM_CONNECT_FAILED, UPSTREAM_RESET, BAD_GATEWAY), or with the signal's
   * reason when the caller aborted.
   */
  fetch(service: string, path: string, init?: MeshFetchInit): Promise<Response>;
  /** The service's instances in the last-known view, whatever their health. */
  instances(service: string): Instance[];
  /** The policy `fetch` applies to the service. */
  policy(service: string): ServicePolicy;
  readonly interceptors: Interceptors;
  /**
   * The trace context of an incoming request (W3C `traceparent`/`tracestate`, or B3 headers), for
   * `mesh.fetch(service, path, { parent })` so the calls made while serving it join its trace.
   * Takes Node's `req.headers` or a Fetch `Headers`; undefined when the request carries no valid context.
   */
  traceContext(
    headers: { get(name: string): string | null } | Record<string, string | readonly string[] | undefined>,
  ): TraceContext | undefined;
  /** Whether the watch on the control plane is up; while it is down the last-known view is served. */
  connected(): boolean;
  /** Deregisters every registered instance, closes the watch and every connection, and flushes spans. */
  close(): Promise<void>;
}
