export * from './backoff.ts';
export * from './control-client.ts';
export * from './mesh-view.ts';
export * from './registration.ts';
export * from './sse.ts';
export type {
  ExchangeOptions,
  OpenStream,
  Reply,
  StreamOptions,
  StreamReply,
  Transport,
  TransportFactory,
  TransportOptions,
} from './transport.ts';
export {
  abortedError,
  closedError,
  IDEMPOTENT_METHODS,
  InFlight,
  type Settlement,
  silenceError,
  timeoutError,
  underDeadline,
} from './transport-kit.ts';
export * from './types.ts';
export * from './watch.ts';
