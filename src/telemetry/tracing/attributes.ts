/**
 * Span attribute and event names: OpenTelemetry's HTTP semantic conventions, and `trellis.*` for the
 * routing decisions that answer "why did this request go there, and why did it fail?".
 */
export const ATTR = {
  SERVICE_NAME: 'service.name',
  HTTP_REQUEST_METHOD: 'http.request.method',
  URL_PATH: 'url.path',
  URL_QUERY: 'url.query',
  HTTP_ROUTE: 'http.route',
  HTTP_RESPONSE_STATUS_CODE: 'http.response.status_code',
  SERVER_ADDRESS: 'server.address',
  SERVER_PORT: 'server.port',
  NETWORK_PEER_ADDRESS: 'network.peer.address',
  NETWORK_PEER_PORT: 'network.peer.port',
  ERROR_TYPE: 'error.type',
  /** The service a request was sent to: the callee of a topology edge. */
  PEER_SERVICE: 'peer.service',
  TELEMETRY_SDK_NAME: 'telemetry.sdk.name',

  TRELLIS_ROUTE: 'trellis.route',
  TRELLIS_BALANCER: 'trellis.balancer',
  /** `host:port` of the endpoint that answered (the last attempt's). */
  TRELLIS_ENDPOINT: 'trellis.endpoint',
  TRELLIS_ATTEMPTS: 'trellis.attempts',
  TRELLIS_BREAKER_STATE: 'trellis.breaker_state',
  TRELLIS_ERROR_CODE: 'trellis.error_code',
  /** On an attempt event: what happened (see ATTEMPT_OUTCOMES). */
  TRELLIS_OUTCOME: 'trellis.outcome',
  TRELLIS_ATTEMPT: 'trellis.attempt',
} as const;

/** One event per upstream attempt, in order. */
export const ATTEMPT_EVENT = 'trellis.attempt';

/** What an attempt ended with; a retried attempt shows why it was retried. */
export const ATTEMPT_OUTCOMES = [
  'ok',
  'status',
  'connect-failure',
  'reset',
  'timeout',
  'circuit-open',
  'overflow',
] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export const INSTRUMENTATION_SCOPE = 'trellis';
