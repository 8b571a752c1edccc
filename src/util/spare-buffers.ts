/**
 * A few process-wide buffers lent to one writer or reader and handed back once nothing refers
 * to their bytes, so a sustained transfer reuses them instead of allocating (fresh pages to
 * fault in, then garbage) one per write or record. Only a buffer this pool lent, released
 * once, comes back; anything else is ignored. Used by the sealer (session/seal.ts) and the
 * deframer (wire/deframer.ts).
 */
export class SpareBuffers {
  private readonly spares: ArrayBuffer[] = [];
  /** Buffers lent and not yet released: only these may come back. */
  private readonly lent = new WeakSet<Uint8Array>();

  /**
   * @param kept most free buffers kept
   * @param fit a spare serves a request of at least `fit` × its size (so a buffer someone
   *   keeps never pins much more memory than it has bytes); 0 takes any spare large enough
   */
  constructor(private readonly kept: number, private readonly fit: number) {}

  /** `length` bytes on a spare that fits, or null. */
  take(length: number): Buffer | null {
    const spares = this.spares;
    for (let i = 0; i < spares.length; i++) {
      const ab = spares[i]!;
      if (ab.byteLength >= length && length >= ab.byteLength * this.fit) {
        spares[i] = spares[spares.length - 1]!;
        spares.pop();
        return Buffer.from(ab, 0, length);
      }
    }
    return null;
  }

  /** Marks `buf` (a view from offset 0 of an ArrayBuffer of its own) as one that may come back. */
  lend(buf: Buffer): Buffer {
    this.lent.add(buf);
    return buf;
  }

  /** Its holder is done with `buf` and keeps no view of it: its memory may serve the next take(). */
  release(buf: Uint8Array): void {
    if (!this.lent.delete(buf) || this.spares.length >= this.kept) return;
    this.spares.push(buf.buffer as ArrayBuffer);
  }
}
