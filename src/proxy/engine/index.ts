export { ClientConnection } from './connection.ts';
export type { EngineContext, Resolution, Resolver } from './context.ts';
export { ForwardHeadWriter, findHeader } from './forward-head.ts';
export {
  beginTrace,
  ExchangeObserver,
  type ExchangeTelemetry,
  exchangeTelemetry,
  type TracePropagation,
} from './trace-hooks.ts';
