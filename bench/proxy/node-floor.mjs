// The Node floor: the least an HTTP/1.1 proxy written for Node can do per request, to show how much
// of Trellis's CPU and memory is Node's own. Raw net.Sockets, one upstream connection per client
// connection, bytes passed through unchanged; it only finds where each message ends (head, then a
// Content-Length body) as any HTTP-aware proxy must. No routing, balancing, pooling, validation,
// metrics, logging or tracing; no chunked bodies or pipelining. Both sides read the way Trellis
// does, into a buffer reused from read to read (Node's onread; for accepted sockets the fields the
// option sets, as src/proxy/engine/socket-reads.ts does), not through 'data' events. Plain
// JavaScript run by plain node (no tsx loader), so its memory is comparable with Trellis's build.
// Usage: node bench/proxy/node-floor.mjs --port PORT --upstream HOST:PORT
import { connect, createServer, Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
const port = Number(values.port);
const upstream = /^(.+):(\d+)$/.exec(values.upstream ?? '');
if (!Number.isInteger(port) || port <= 0 || upstream === null) {
  throw new Error('usage: --port PORT --upstream HOST:PORT');
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

/** Follows one direction of a connection message by message: where heads end and bodies stop. */
class Framing {
  pendingHead = null;
  bodyLeft = 0;

  /** Consumes `chunk`, carrying over a head that it splits. */
  feed(chunk) {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= take;
        offset += take;
        continue;
      }
      const rest = chunk.subarray(offset);
      const bytes = this.pendingHead === null ? rest : Buffer.concat([this.pendingHead, rest]);
      const end = bytes.indexOf(HEAD_END);
      if (end < 0) {
        this.pendingHead = Buffer.from(bytes);
        break;
      }
      const length = CONTENT_LENGTH.exec(bytes.latin1Slice(0, end + 2));
      this.bodyLeft = length === null ? 0 : Number(length[1]);
      offset += end + HEAD_END.length - (this.pendingHead?.length ?? 0);
      this.pendingHead = null;
    }
  }
}

const READ_BYTES = 16 * 1024;
const SYMBOLS = new Map(
  Object.getOwnPropertySymbols(new Socket()).map((symbol) => [symbol.description, symbol]),
);

/**
 * Reads that land in one buffer and are written on to `target` (a getter: the other socket); the
 * next read goes to a new buffer while bytes of the last are still queued in `target`.
 */
function relay(framing, target) {
  let buffer = Buffer.allocUnsafeSlow(READ_BYTES);
  let held = false;
  return {
    buffer: () => {
      if (held) {
        held = false;
        buffer = Buffer.allocUnsafeSlow(READ_BYTES);
      }
      return buffer;
    },
    callback: (length, into) => {
      const chunk = into.subarray(0, length);
      framing.feed(chunk);
      const socket = target();
      socket.write(chunk);
      held = socket.writableLength > 0;
      return true;
    },
  };
}

const server = createServer({ noDelay: true }, (client) => {
  const requests = new Framing();
  const responses = new Framing();
  const origin = connect({
    host: upstream[1],
    port: Number(upstream[2]),
    noDelay: true,
    onread: relay(responses, () => client),
  });
  const close = () => {
    client.destroy();
    origin.destroy();
  };
  for (const socket of [client, origin]) {
    socket.on('error', close);
    socket.on('close', close);
  }
  const reads = relay(requests, () => origin);
  const first = reads.buffer();
  client[SYMBOLS.get('kBuffer')] = first;
  client[SYMBOLS.get('kBufferCb')] = reads.callback;
  client[SYMBOLS.get('kBufferGen')] = reads.buffer;
  client._handle.useUserBuffer(first);
});
server.listen(port, '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
