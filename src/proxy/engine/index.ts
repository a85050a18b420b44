export { ClientConnection } from './connection.ts';
export type { EngineContext, Resolution, Resolver } from './context.ts';
export { ForwardHeadWriter } from './forward-head.ts';
export {
  type LoopPoller,
  loadLoopPoller,
  type PolledEndpoint,
  ReplyPoller,
} from './reply-poller.ts';
export {
  beginTrace,
  ExchangeObserver,
  type ExchangeTelemetry,
  exchangeTelemetry,
  type TracePropagation,
} from './trace-hooks.ts';
