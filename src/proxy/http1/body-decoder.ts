import { ChunkedDecoder, type ChunkedDecoderOptions } from './chunked-decoder.ts';

export interface BodyProgress {
  /** Bytes from `offset` that belong to the current message (forward them as they are). */
  consumed: number;
  /** The message ended; bytes after `offset + consumed` belong to the next message. */
  done: boolean;
}

/**
 * Tracks where a message body ends without copying it. `consume` takes what belongs to the current
 * message out of buf[offset, end) and says whether the message is complete.
 */
export interface BodyDecoder {
  consume(buf: Buffer, offset?: number, end?: number): BodyProgress;
  readonly done: boolean;
}

export class ContentLengthDecoder implements BodyDecoder {
  remaining: number;

  constructor(length: number) {
    this.remaining = length;
  }

  get done(): boolean {
    return this.remaining === 0;
  }

  reset(length: number): void {
    this.remaining = length;
  }

  consume(buf: Buffer, offset = 0, end = buf.length): BodyProgress {
    const available = end - offset;
    const n = Math.min(available, this.remaining);
    this.remaining -= n;
    return { consumed: n, done: this.remaining === 0 };
  }
}

/** A response body delimited by the upstream closing the connection: every byte belongs to it. */
export class CloseDelimitedDecoder implements BodyDecoder {
  readonly done = false;

  consume(buf: Buffer, offset = 0, end = buf.length): BodyProgress {
    return { consumed: end - offset, done: false };
  }
}

/** The decoder for a parsed head's framing (`none` gives a decoder that is already done). */
export function createBodyDecoder(
  head: { readonly framing: string; readonly contentLength: number },
  options: ChunkedDecoderOptions = {},
): BodyDecoder {
  switch (head.framing) {
    case 'chunked':
      return new ChunkedDecoder(options);
    case 'content-length':
      return new ContentLengthDecoder(head.contentLength);
    case 'close':
      return new CloseDelimitedDecoder();
    default:
      return new ContentLengthDecoder(0);
  }
}
