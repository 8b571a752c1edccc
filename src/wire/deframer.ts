/**
 * Pulls complete frames out of a byte stream cut at arbitrary points (TCP reads).
 * Frame = u32 big-endian body length ‖ body. A frame wholly inside one chunk is returned as a
 * view of it (no copy); a frame that spans chunks is copied once into a buffer of its announced
 * size (allocated, or one a consumer released), and only after that size passed the limit. Errors are PeerErrors
 * (FRAME_TOO_LARGE, MALFORMED_FRAME) and leave the deframer failed: a stream that lost
 * framing cannot be resynchronised.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { SpareBuffers } from '../util/spare-buffers.js';
import { ABSOLUTE_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, LENGTH_PREFIX_BYTES } from './constants.js';

/**
 * Bodies assembled across reads that their consumer handed back (releaseFrame: it decrypted
 * them elsewhere, e.g. a chunk into its message's buffer, and kept no view), for the next
 * frame that spans reads: a bulk transfer then assembles its records in two buffers in turn
 * instead of allocating (and the collector freeing) one per 64 KiB record. Process-wide and
 * small: at most 2 buffers. A spare is reused only for a frame at least 3/4 of its size, so
 * a body that an application keeps (a data record's messages are views of it) never pins much
 * more memory than it has bytes.
 */
const spareFrames = new SpareBuffers(2, 0.75);

/** A buffer of `length` bytes for a body that spans reads: a spare that fits, or a new one. */
function assemblyBuffer(length: number): Buffer {
  // Its own allocation: a small allocUnsafe would share Node's pool with unrelated data.
  return spareFrames.take(length) ?? Buffer.allocUnsafeSlow(length);
}

/**
 * The consumer of a body that push() returned is done with it and holds no view of it (its
 * bytes are dead): if it was assembled across reads, its memory may take the next such frame.
 * Anything else (a view of a socket chunk, a body released twice) is ignored.
 */
export function releaseFrame(body: Uint8Array): void {
  spareFrames.release(body);
}

export interface DeframerOptions {
  /** Largest body accepted, in bytes (default 128 KiB, at most 16 MiB). */
  maxFrameBytes?: number;
}

export class Deframer {
  private limit = DEFAULT_MAX_FRAME_BYTES;
  /** Partial length prefix when a chunk ended inside it: its bytes so far, big-endian (no buffer per deframer). */
  private prefix = 0;
  private prefixFilled = 0;
  /** Body being assembled across chunks, and how much of it is filled. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private failure: PeerError | null = null;

  constructor(options: DeframerOptions = {}) {
    this.setMaxFrameBytes(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  }

  /** Changes the limit for frames not yet begun (a listener raises it once the handshake is READY). */
  setMaxFrameBytes(max: number): void {
    if (!Number.isInteger(max) || max < 1 || max > ABSOLUTE_MAX_FRAME_BYTES) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `maxFrameBytes must be 1 to ${ABSOLUTE_MAX_FRAME_BYTES}`);
    }
    this.limit = max;
  }

  get maxFrameBytes(): number {
    return this.limit;
  }

  /** Memory held for an incomplete frame: its allocated body plus any partial prefix. */
  get buffered(): number {
    return this.prefixFilled + (this.partial === null ? 0 : this.partial.length);
  }

  /** Feeds one chunk; returns the frame bodies it completed, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failure) throw this.failure;
    const frames: Uint8Array[] = [];
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.partial !== null) {
        const take = Math.min(this.partial.length - this.partialFilled, end - at);
        this.partial.set(chunk.subarray(at, at + take), this.partialFilled);
        this.partialFilled += take;
        at += take;
        if (this.partialFilled === this.partial.length) {
          frames.push(spareFrames.lend(this.partial));
          this.partial = null;
          this.partialFilled = 0;
        }
        continue;
      }
      let length: number;
      if (this.prefixFilled === 0 && end - at >= LENGTH_PREFIX_BYTES) {
        length = ((chunk[at]! << 24) | (chunk[at + 1]! << 16) | (chunk[at + 2]! << 8) | chunk[at + 3]!) >>> 0;
        at += LENGTH_PREFIX_BYTES;
      } else {
        while (this.prefixFilled < LENGTH_PREFIX_BYTES && at < end) {
          this.prefix = this.prefix * 256 + chunk[at++]!;
          this.prefixFilled++;
        }
        if (this.prefixFilled < LENGTH_PREFIX_BYTES) break;
        length = this.prefix;
        this.prefix = 0;
        this.prefixFilled = 0;
      }
      this.checkLength(length);
      if (end - at >= length) {
        frames.push(chunk.subarray(at, at + length));
        at += length;
      } else {
        this.partial = assemblyBuffer(length);
        this.partialFilled = 0;
      }
    }
    return frames;
  }

  /** Declares the stream ended; a frame cut short is MALFORMED_FRAME. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered > 0) {
      this.fail(new PeerError(ErrorCode.MALFORMED_FRAME, `stream ended inside a frame (${this.buffered} bytes held)`));
    }
  }

  private checkLength(length: number): void {
    if (length === 0) this.fail(new PeerError(ErrorCode.MALFORMED_FRAME, 'empty frame'));
    if (length > this.maxFrameBytes) {
      this.fail(new PeerError(ErrorCode.FRAME_TOO_LARGE, `frame of ${length} bytes exceeds ${this.maxFrameBytes}`, {
        length, limit: this.maxFrameBytes,
      }));
    }
  }

  private fail(err: PeerError): never {
    this.failure = err;
    this.partial = null;
    this.prefix = 0;
    this.prefixFilled = 0;
    this.partialFilled = 0;
    throw err;
  }
}

/** Prefixes a body with its length: the inverse of the deframer, for tests and simple senders. */
export function encodeFrame(body: Uint8Array): Buffer {
  if (body.length === 0 || body.length > ABSOLUTE_MAX_FRAME_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `frame body must be 1 to ${ABSOLUTE_MAX_FRAME_BYTES} bytes`);
  }
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, LENGTH_PREFIX_BYTES);
  return out;
}
