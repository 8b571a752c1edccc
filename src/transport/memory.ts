/**
 * An in-memory duplex pair for tests: what one side writes, the other reads, with the same
 * stream semantics (backpressure, end, destroy) as a socket. Node 20 lacks stream.duplexPair.
 */
import { Duplex } from 'node:stream';

class MemoryEnd extends Duplex {
  peer: MemoryEnd | null = null;
  private pendingCallback: (() => void) | null = null;

  override _read(): void {
    const cb = this.peer?.pendingCallback;
    if (cb && this.peer) {
      this.peer.pendingCallback = null;
      cb();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) return callback(new Error('memory transport: peer is closed'));
    // Copy: the writer may reuse its buffer, as a socket would not notice.
    if (peer.push(Buffer.from(chunk))) callback();
    else this.pendingCallback = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    if (peer && !peer.destroyed) peer.destroy();
    callback(err);
  }
}

/** Two connected duplex streams. `highWaterMark` bounds what each side buffers. */
export function memoryDuplexPair(highWaterMark = 64 * 1024): [Duplex, Duplex] {
  const a = new MemoryEnd({ highWaterMark });
  const b = new MemoryEnd({ highWaterMark });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
