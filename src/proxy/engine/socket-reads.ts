import { Socket } from 'node:net';

/**
 * Node's `onread` for a socket that a server accepted.
 *
 * A socket made with `net.connect({ onread: { buffer, callback } })` reads into buffers its owner
 * supplies and hands over the byte count: no stream machinery per read (no memory allocated for it,
 * no 'data' event, no `maybeReadMore` tick and the tick-queue drain after it). Node offers the option only where it
 * constructs the socket for you, and `net.Server` constructs accepted sockets without it. The
 * constructor keeps the option in three symbol-keyed fields of the socket (Node's kBuffer, kBufferCb
 * and kBufferGen), which its read path consults on every read; this sets them as the constructor
 * would and switches the handle to the supplied buffer (`useUserBuffer`, what the constructor calls).
 * Measured on a sidecar at saturation (4 interleaved pairs): 33.9-40.1 µs of CPU per request
 * against 40.3-60.8 reading through 'data' events.
 */

interface UserBufferSymbols {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/** The symbols, found on a socket without a handle; undefined when this Node has other internals. */
const SYMBOLS: UserBufferSymbols | undefined = findSymbols();

function findSymbols(): UserBufferSymbols | undefined {
  const byName = new Map<string, symbol>();
  for (const symbol of Object.getOwnPropertySymbols(new Socket())) {
    if (symbol.description !== undefined) byName.set(symbol.description, symbol);
  }
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
  return { buffer, callback, generator };
}

interface StreamHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

/**
 * From the next read on, `socket` reads into `next()` and calls `onRead(length, buffer)` instead of
 * emitting 'data': as `onread` with a buffer function, `next` is asked after every read where the
 * following one goes. `onRead` must use or copy the bytes before the buffer is read into again. Call
 * it before the socket's first read (in the server's connection listener). Returns false, changing
 * nothing, when this Node's sockets lack the fields: read through 'data' events then.
 */
export function readIntoBuffers(
  socket: Socket,
  next: () => Buffer,
  onRead: (length: number, buffer: Buffer) => boolean,
): boolean {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (SYMBOLS === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  const first = next();
  fields[SYMBOLS.buffer] = first;
  fields[SYMBOLS.callback] = onRead;
  fields[SYMBOLS.generator] = next;
  handle.useUserBuffer(first);
  return true;
}

/** Whether `readIntoBuffers` can work on this Node (checked on Node 20, which the tests run on). */
export const userBufferReadsSupported = SYMBOLS !== undefined;
