/**
 * Messages waiting for an async-iterator reader. Bounded: at `limit` messages the stream is
 * paused (TCP flow control then slows the sender); below half of it, resumed.
 */
import type { Duplex } from 'node:stream';

export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((r: IteratorResult<T>) => void)[] = [];
  private started = false;
  private ended = false;

  constructor(private readonly stream: Duplex, private readonly limit: number) {}

  /** True once an iterator exists: before that, push() keeps nothing. */
  get reading(): boolean {
    return this.started;
  }

  /** Hands a message to a waiting reader, or buffers it once a reader exists. */
  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) return waiter({ value: item, done: false });
    if (!this.started) return;
    this.items.push(item);
    if (this.items.length >= this.limit) this.stream.pause();
  }

  /** No more messages: pending and future reads finish. */
  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    if (this.stream.isPaused()) this.stream.resume();
  }

  iterator(onReturn: () => Promise<void>): AsyncIterator<T> {
    this.started = true;
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) {
          if (this.items.length < this.limit / 2 && this.stream.isPaused()) this.stream.resume();
          return Promise.resolve({ value: item, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await onReturn();
        return { value: undefined, done: true };
      },
    };
  }
}
