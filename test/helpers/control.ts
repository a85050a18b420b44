/** Helpers for control-plane tests: a node on port 0 with a temp data dir, JSON calls, an SSE reader. */
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { trellisConfig, validate } from '../../src/config/index.ts';
import { type ControlNode, type ControlNodeOptions, startControlNode } from '../../src/control/index.ts';

export interface TestControl extends ControlNode {
  dataDir: string;
}

export interface TestControlOverrides {
  control?: Record<string, unknown>;
  /** The node's gateway; on a free port unless given. */
  gateway?: Record<string, unknown>;
  services?: unknown[];
  routes?: unknown[];
}

/** Starts a control node on 127.0.0.1:0 with a fresh data dir, removed again by close(). */
export async function startTestControl(
  overrides: TestControlOverrides = {},
  options: Partial<ControlNodeOptions> & { dataDir?: string } = {},
): Promise<TestControl> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'trellis-control-')));
  const config = validate(trellisConfig, {
    control: { host: '127.0.0.1', port: 0, dataDir, ...overrides.control },
    gateway: { port: 0, ...overrides.gateway },
    services: overrides.services ?? [],
    routes: overrides.routes ?? [],
  });
  const node = await startControlNode(config, { logger: pino({ level: 'silent' }), ...options });
  return {
    ...node,
    dataDir,
    async close() {
      await node.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response fields directly
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** One JSON call; `body` is JSON-encoded unless it is a string (sent as is). */
// biome-ignore lint/suspicious/noExplicitAny: tests read response fields directly
export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

export interface EventStream {
  readonly status: number;
  readonly events: SseEvent[];
  /** Comment lines received (e.g. `ping`). */
  readonly comments: string[];
  /** Resolves with the first event (already received or future) matching `predicate`. */
  next(predicate?: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens an SSE stream with its own connection (no pooling), so hundreds can be open at once. */
export function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      const waiters: { predicate: (event: SseEvent) => boolean; resolve: (event: SseEvent) => void }[] = [];
      let buffer = '';
      let current: Partial<SseEvent> & { dataLines: string[] } = { dataLines: [] };
      let endResolve!: () => void;
      const ended = new Promise<void>((r) => {
        endResolve = r;
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline = buffer.indexOf('\n');
        while (newline !== -1) {
          const line = buffer.slice(0, newline).replace(/\r$/, '');
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line === '') {
            if (current.dataLines.length > 0) {
              const event: SseEvent = {
                event: current.event ?? 'message',
                id: current.id,
                data: current.dataLines.join('\n'),
              };
              events.push(event);
              for (const waiter of [...waiters]) {
                if (waiter.predicate(event)) {
                  waiters.splice(waiters.indexOf(waiter), 1);
                  waiter.resolve(event);
                }
              }
            }
            current = { dataLines: [] };
          } else if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
          } else {
            const colon = line.indexOf(':');
            const field = colon === -1 ? line : line.slice(0, colon);
            const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') current.dataLines.push(value);
            else if (field === 'event') current.event = value;
            else if (field === 'id') current.id = value;
          }
        }
      });
      res.on('end', endResolve);
      res.on('close', endResolve);
      res.on('error', endResolve);
      resolve({
        status: res.statusCode ?? 0,
        events,
        comments,
        ended,
        next(predicate = () => true, timeoutMs = 5000) {
          const found = events.find(predicate);
          if (found) return Promise.resolve(found);
          return new Promise((resolveNext, rejectNext) => {
            const waiter = {
              predicate,
              resolve: (event: SseEvent) => {
                clearTimeout(timer);
                resolveNext(event);
              },
            };
            const timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(waiter), 1);
              rejectNext(new Error(`no matching SSE event within ${timeoutMs} ms (got ${events.length})`));
            }, timeoutMs);
            waiters.push(waiter);
          });
        },
        close() {
          req.destroy();
          res.destroy();
        },
      });
    });
    req.end();
  });
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
type Falsy = undefined | null | false;

export async function eventually<T>(
  probe: () => Promise<T | Falsy> | T | Falsy,
  timeoutMs = 5000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `condition not met within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : String(last)})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
