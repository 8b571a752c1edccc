/**
 * Message ids (docs/QUEUE.md "Sender side"): 16 bytes, a random 8-byte prefix chosen when the
 * queue starts, then a 64-bit big-endian counter. As unique as random ids (two queue instances
 * share a prefix with probability 2⁻⁶⁴), but one sender's ids sort in the order it stores them,
 * so the outbox's id index and the receiver's seen set grow at one end instead of rewriting
 * random pages on every commit.
 */
import { randomBytes } from 'node:crypto';
import { MESSAGE_ID_BYTES } from './store.js';

const PREFIX_BYTES = 8;
const U32 = 2 ** 32;

export class MessageIds {
  private readonly prefix = randomBytes(PREFIX_BYTES);
  /** Below 2⁵³ for any real lifetime (a million ids a second for 285 years). */
  private counter = 0;

  next(): Buffer {
    const id = Buffer.alloc(MESSAGE_ID_BYTES);
    this.prefix.copy(id, 0);
    const n = this.counter++;
    id.writeUInt32BE(Math.floor(n / U32), PREFIX_BYTES);
    id.writeUInt32BE(n >>> 0, PREFIX_BYTES + 4);
    return id;
  }
}
