export { ClientConnection } from './connection.ts';
export type { EngineContext, Resolution, Resolver } from './context.ts';
export { ForwardHeadWriter, findHeader } from './forward-head.ts';
