/**
 * A streamed message being received: chunks are handed to the reader as they arrive, never
 * held whole. At most `limit` chunks wait for a slow reader; past that the connection is paused
 * so TCP flow control slows the sender.
 */
import type { PeerError } from '../errors.js';

export class IncomingStream implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private waiter: ((r: IteratorResult<Uint8Array>) => void) | null = null;
  private failWaiter: ((err: PeerError) => void) | null = null;
  private done = false;
  private failure: PeerError | null = null;
  private iterated = false;

  constructor(private readonly limit: number, private readonly pause: () => void, private readonly resume: () => void) {}

  /** Chunks buffered for the reader. */
  get buffered(): number {
    return this.chunks.length;
  }

  push(data: Uint8Array, last: boolean): void {
    // The chunk is a view into a socket buffer that is not reused, so it can be handed on as is.
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: data, done: false });
    } else if (data.length > 0) {
      this.chunks.push(data);
      if (this.chunks.length >= this.limit) this.pause();
    }
    if (last) this.finish();
  }

  fail(err: PeerError): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    this.failWaiter?.(err);
    this.waiter = null;
    this.failWaiter = null;
    this.resume();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterated) throw new Error('a message stream can be read once');
    this.iterated = true;
    return {
      next: () => {
        const chunk = this.chunks.shift();
        if (chunk !== undefined) {
          if (this.chunks.length < this.limit / 2) this.resume();
          return Promise.resolve({ value: chunk, done: false });
        }
        if (this.failure) return Promise.reject(this.failure);
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
    };
  }

  private finish(): void {
    this.done = true;
    const w = this.waiter;
    this.waiter = null;
    this.failWaiter = null;
    w?.({ value: undefined, done: true });
  }
}
