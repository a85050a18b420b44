/** Room for one read: what Node itself reads at most at once. Only the pages reads fill are resident. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Read buffers a ReadBufferPool keeps for connections to come (default). */
const MAX_FREE_READ_BUFFERS = 16;

/**
 * Read buffers passed from connections that closed to connections that open: one pool of 64 KiB
 * buffers shared by every endpoint pool of a proxy, and one of smaller ones per listener for its
 * client connections. Without it each new connection allocates its buffer outside V8's heap, memory
 * that is freed only when a full collection finds its closed connection: a proxy that opens and
 * closes a connection every second or two (idle ones expire after 4 s) accumulated megabytes of them
 * between two full collections.
 */
export class ReadBufferPool {
  private readonly free: Buffer[] = [];

  /** `bytes`: the size of each buffer (default 64 KiB); `maxFree`: how many given back are kept. */
  constructor(
    private readonly maxFree = MAX_FREE_READ_BUFFERS,
    readonly bytes = READ_BUFFER_BYTES,
  ) {}

  /** A buffer for a new read target: the last one given back, or a new one. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bytes);
  }

  /** `buffer` is unreferenced from now on (its connection closed, no write still holds bytes of it). */
  give(buffer: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(buffer);
  }

  get freeCount(): number {
    return this.free.length;
  }
}

/**
 * The buffer one socket reads into (Node's `onread` with a buffer function), reused from read to read
 * until bytes of a read are still referenced after it was handled: then the next read goes to
 * another buffer from the pool and the kept one is left to the garbage collector.
 */
export class ReadTarget {
  private buffer: Buffer;
  private kept = false;

  constructor(private readonly buffers: ReadBufferPool) {
    this.buffer = buffers.take();
  }

  /** Bytes of the last read are still referenced (queued in a write, kept for later). */
  keep(): void {
    this.kept = true;
  }

  /** Where the next read goes: the same buffer, unless the last one is kept. */
  readonly next = (): Buffer => {
    if (this.kept) {
      this.kept = false;
      this.buffer = this.buffers.take();
    }
    return this.buffer;
  };

  /** The socket closed: its buffer goes back to the pool unless something still refers to it. */
  release(): void {
    if (!this.kept) this.buffers.give(this.buffer);
    this.kept = true;
  }
}
