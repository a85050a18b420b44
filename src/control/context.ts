import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from '../registry/index.ts';
import type { Store } from '../store/index.ts';
import type { Reply } from './http.ts';
import type { Params, Router } from './router.ts';
import type { WatchHub } from './watch.ts';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Params;
  path: string;
  query: URLSearchParams;
  /** Reads the JSON body (size-limited, content-type checked); `undefined` when there is none. */
  body(): Promise<unknown>;
}

/** Returns a reply, or `undefined` when it wrote the response itself. */
export type Handler = (ctx: RequestContext) => Promise<Reply | undefined> | Reply | undefined;

export type ControlRouter = Router<Handler>;

/** The part of the health checker the API reads. */
export interface LeaderView {
  isLeader(): boolean;
}

/** What the API modules are given. */
export interface ApiDeps {
  registry: Registry;
  store: Store;
  checker?: LeaderView;
  hub: WatchHub;
  logger: Logger;
  nodeId?: string;
}
