/**
 * Reads a request body as bytes, whatever its type (the OTLP receiver takes protobuf), with the size
 * limit decided as the bytes arrive: past it the rest is read and dropped (up to a bound) so the
 * client sees the 413 rather than a reset.
 */
import type { IncomingMessage } from 'node:http';
import { MeshError } from '../core/index.ts';

const DRAIN_LIMIT_BYTES = 4 * 1024 * 1024;

export function readRawBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    drain(req);
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        drain(req);
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new MeshError('BAD_REQUEST', `could not read the request body: ${error.message}`, { cause: error }),
      );
    };
    const onClose = () => {
      cleanup();
      reject(new MeshError('BAD_REQUEST', 'the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function tooLarge(maxBytes: number): MeshError {
  return new MeshError('PAYLOAD_TOO_LARGE', `the request body exceeds the limit of ${maxBytes} bytes`, {
    details: [{ message: 'body too large', limit: maxBytes }],
  });
}

function drain(req: IncomingMessage): void {
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}
