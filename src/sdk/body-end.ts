/** When an upstream's response body ends, as the proxy's engine sees it. */
import type { Readable } from 'node:stream';

/**
 * - `complete`: the upstream sent the body whole (read by the caller or not);
 * - `error`: the body failed first (a reset, the idle timeout, the deadline, the caller's abort);
 * - `dropped`: the caller closed the body before it was complete.
 */
export type BodyEnd = 'complete' | 'error' | 'dropped';

/**
 * Calls `done` once, when the upstream's part of the body is over. The proxy counts an attempt when
 * the upstream's response ends, not when its client has read it, so a body the caller leaves unread
 * must not wait for the caller: the end is taken from the stream's queue (undici pushes null when the
 * upstream is done), not from its `end` event, which needs a reader.
 */
export function onBodyEnd(body: Readable, done: (end: BodyEnd, error?: unknown) => void): void {
  let settled = false;
  const settle = (end: BodyEnd, error?: unknown) => {
    if (settled) return;
    settled = true;
    done(end, error);
  };
  // undici may have queued the whole body before the caller's `await` resumed.
  if (endQueued(body)) {
    settle('complete');
    return;
  }
  if (body.destroyed) {
    settle(body.errored ? 'error' : 'dropped', body.errored ?? undefined);
    return;
  }
  const push = body.push;
  body.push = function (this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) settle('complete');
    return push.call(this, chunk, encoding);
  };
  body.once('error', (error) => settle('error', error));
  body.once('close', () => settle('dropped'));
}

/** Whether the stream's end is queued (push(null) was called), whether or not it was read. */
function endQueued(body: Readable): boolean {
  return (body as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}
