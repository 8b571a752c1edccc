/**
 * Receiving chunked messages, sans-I/O. For each chunk record the session asks `regionFor()`
 * where a chunk of a message already being received goes (nothing changes here), opens the
 * record straight into that region (the native AEAD writes into the reassembly buffer: no copy)
 * or, for anything else, in place, and only once the tag has verified calls `accept()`. So a
 * record that does not authenticate allocates, reserves and changes nothing.
 *
 * A message starts with its chunk 0, which carries the type byte: it is charged to the `chunk`
 * rate class and to its type's class before anything is reserved (`charge`). Memory is reserved
 * as chunks arrive — the arrived bitmap and each chunk's bytes, at least `minReservation` from
 * chunk 0 — so a peer holds as much of its budget as it has sent, not what it announced. A message must be complete by a deadline
 * (`timeoutMs` + total / `minTransferRate`) as well as never idle for `timeoutMs`.
 *
 * Layout: chunk 0's plaintext is `type (u8) ‖ payload`, every other chunk's is payload only,
 * so the buffer is `1 + total` bytes with chunk i at 1 + i·size and the message is buffer[1…].
 * Every violation is a PeerError CHUNK_ERROR (with the message id): the message is dropped
 * and its memory freed, and the session goes on.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { rateClassOf, type ChunkFields, type RateClass } from '../wire/index.js';
import type { MemoryBudget } from './budget.js';
import { allocReassemblyBuffer } from './buffer-pool.js';
import {
  CHUNK_PREFIX_BYTES, DEFAULT_MAX_CONCURRENT_REASSEMBLIES, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_STREAM_SIZE,
  DEFAULT_MIN_RESERVATION, DEFAULT_MIN_TRANSFER_RATE, DEFAULT_REASSEMBLY_TIMEOUT_MS, DEFAULT_STREAM_THRESHOLD,
} from './constants.js';
import { chunkLength, chunkOffset, planFromHeader, type ChunkPlan } from './plan.js';

export interface ReassemblyOptions {
  maxMessageSize?: number;
  maxStreamSize?: number;
  maxConcurrent?: number;
  /** A message whose next chunk does not arrive within this is abandoned (ms). */
  timeoutMs?: number;
  /** A message must be complete within `timeoutMs` + its size at this rate (bytes/s). */
  minTransferRate?: number;
  /** Messages larger than this arrive as streams. */
  streamThreshold?: number;
  /** A buffered message is charged at least this from its chunk 0 on (default 64 KiB). */
  minReservation?: number;
  /** Memory budget of the peer (itself inside the prefix, unpinned and process budgets). */
  budget?: MemoryBudget;
  /** Charges a new message to a rate class at its chunk 0: 0 if allowed, else the retry-after (ms). */
  charge?: (cls: RateClass, now: number) => number;
}

export type ChunkEvent =
  | { kind: 'message'; seq: number; messageId: number; type: number; payload: Buffer }
  | { kind: 'stream-start'; seq: number; messageId: number; type: number; total: number }
  | { kind: 'stream-data'; messageId: number; data: Uint8Array; last: boolean }
  /** A new message refused by its rate class at chunk 0 (its later chunks are dropped). */
  | { kind: 'limited'; seq: number; messageId: number; rateClass: RateClass; retryAfter: number };

interface Assembly {
  /** The message number it was given when its first chunk arrived. */
  seq: number;
  plan: ChunkPlan;
  /** Abandoned when no chunk arrived by `idleAt`, or when not complete by `endBy`. */
  idleAt: number;
  endBy: number;
  /** Buffered: the whole message (1 + total bytes) and a bit per chunk that arrived. */
  buffer: Buffer | null;
  arrived: Uint8Array | null;
  received: number;
  /** Bytes charged to the budget: the bitmap and the chunks that arrived (at least the minimum). */
  reserved: number;
  /** Of which reserved at chunk 0 beyond what has arrived (the minimum's rest), used up first. */
  credit: number;
  /** Streamed: the next index expected (chunks must come in order). */
  nextIndex: number;
}

/** Where chunk `index`'s plaintext starts in its message's buffer (chunk 0 leads with the type byte). */
function regionStart(plan: ChunkPlan, index: number): number {
  return index === 0 ? 0 : CHUNK_PREFIX_BYTES + chunkOffset(plan, index);
}

/** Where chunk `index`'s plaintext ends in its message's buffer. */
function regionEnd(plan: ChunkPlan, index: number): number {
  return CHUNK_PREFIX_BYTES + chunkOffset(plan, index) + chunkLength(plan, index);
}

function hasArrived(a: Assembly, index: number): boolean {
  return (a.arrived![index >>> 3]! & (1 << (index & 7))) !== 0;
}

function chunkError(messageId: number, reason: string): PeerError {
  return new PeerError(ErrorCode.CHUNK_ERROR, reason, { messageId });
}

export class Reassembler {
  private readonly active = new Map<number, Assembly>();
  /** Highest message id ever started: ids only grow, so lower unknown ids are aborted ones. */
  private lastMessageId = -1;
  private readonly maxMessageSize: number;
  private readonly maxStreamSize: number;
  private readonly maxConcurrent: number;
  private readonly timeoutMs: number;
  private readonly minTransferRate: number;
  private readonly streamThreshold: number;
  private readonly minReservation: number;

  constructor(private readonly opts: ReassemblyOptions = {}) {
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxStreamSize = opts.maxStreamSize ?? DEFAULT_MAX_STREAM_SIZE;
    this.maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_REASSEMBLIES;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS;
    this.minTransferRate = opts.minTransferRate ?? DEFAULT_MIN_TRANSFER_RATE;
    this.streamThreshold = opts.streamThreshold ?? DEFAULT_STREAM_THRESHOLD;
    this.minReservation = opts.minReservation ?? DEFAULT_MIN_RESERVATION;
  }

  /** Messages being received. */
  get inProgress(): number {
    return this.active.size;
  }

  /** The earliest reassembly deadline (idle or whole-message), or null. */
  get deadline(): number | null {
    let d: number | null = null;
    for (const a of this.active.values()) d = Math.min(d ?? Infinity, a.idleAt, a.endBy);
    return d;
  }

  /**
   * True when the chunk starts a message not seen before (its message number is taken even if
   * the message is then refused, so both sides keep counting alike).
   */
  isNewMessage(c: ChunkFields): boolean {
    return c.messageId > this.lastMessageId;
  }

  /**
   * Where a chunk of `plainLength` bytes should be decrypted: its region of the buffer of a
   * message being received when it fits there and has not arrived yet; otherwise null (open it
   * in place). Reads only: the record has not been authenticated yet.
   */
  regionFor(c: ChunkFields, plainLength: number): Uint8Array | null {
    const a = this.active.get(c.messageId);
    if (a?.buffer == null || !this.fits(a, c, plainLength) || hasArrived(a, c.index)) return null;
    return a.buffer.subarray(regionStart(a.plan, c.index), regionEnd(a.plan, c.index));
  }

  /**
   * Takes an authenticated chunk whose plaintext is `plain` (its region, or anywhere else:
   * then it is copied there); a new message gets message number `seq`. Returns the events it
   * completes; throws the CHUNK_ERROR that refuses its message. A chunk of a message already
   * refused or abandoned is dropped silently (that was reported).
   */
  accept(c: ChunkFields, plain: Uint8Array, now: number, seq: number): ChunkEvent[] {
    const a = this.active.get(c.messageId);
    if (a === undefined) {
      if (c.messageId <= this.lastMessageId) return [];
      this.lastMessageId = c.messageId;
      return this.start(c, plain, now, seq);
    }
    if (!this.fits(a, c, plain.length)) throw this.abort(c.messageId, this.misfit(a, c, plain.length));
    if (a.buffer === null) {
      if (c.index !== a.nextIndex) throw this.abort(c.messageId, `streamed chunk ${c.index} out of order (expected ${a.nextIndex})`);
      a.idleAt = now + this.timeoutMs;
      return this.commitStream(c, a, plain);
    }
    const region = a.buffer.subarray(regionStart(a.plan, c.index), regionEnd(a.plan, c.index));
    const inRegion = plain.buffer === region.buffer && plain.byteOffset === region.byteOffset;
    if (hasArrived(a, c.index)) {
      // The same bytes again are harmless (and keep nothing alive); different ones are not.
      if (!region.equals(plain)) throw this.abort(c.messageId, `chunk ${c.index} arrived twice with different content`);
      return [];
    }
    const fromCredit = Math.min(a.credit, plain.length);
    const more = plain.length - fromCredit;
    if (!this.opts.budget || this.opts.budget.reserve(more)) {
      a.credit -= fromCredit;
      a.reserved += more;
    } else {
      if (inRegion) region.fill(0);
      throw this.abort(c.messageId, `reassembly memory bound reached (${more} more bytes refused)`);
    }
    if (!inRegion) region.set(plain);
    return this.arrive(c, a, now);
  }

  /** Abandons messages whose next chunk is overdue or whose deadline passed; returns their CHUNK_ERRORs. */
  expire(now: number): PeerError[] {
    const errors: PeerError[] = [];
    for (const [id, a] of this.active) {
      if (now >= a.endBy) errors.push(this.abort(id, `whole-message deadline passed (${a.plan.total} bytes not complete in ${this.allowedMs(a.plan.total)} ms)`, a));
      else if (now >= a.idleAt) errors.push(this.abort(id, `no chunk for ${this.timeoutMs} ms`, a));
    }
    return errors;
  }

  /** Abandons one message (the sender gave up, or a check failed); frees its memory. */
  abort(messageId: number, reason: string, a = this.active.get(messageId)): PeerError {
    if (a) this.release(messageId, a, true);
    return chunkError(messageId, reason);
  }

  /**
   * The sender abandoned message `messageId`: frees it if in progress. Returns true when the
   * message was never seen (its number must still be taken), with the error to report.
   */
  abandon(messageId: number): { unseen: boolean; error: PeerError } {
    const unseen = messageId > this.lastMessageId;
    if (unseen) this.lastMessageId = messageId;
    return { unseen, error: this.abort(messageId, 'the sender abandoned the message') };
  }

  /** Frees everything (session ended). */
  clear(): void {
    for (const [id, a] of this.active) this.release(id, a, true);
  }

  /** Same message layout as the first chunk's, an index in range and the length of the cut. */
  private fits(a: Assembly, c: ChunkFields, length: number): boolean {
    return c.count === a.plan.count && c.totalLength === a.plan.total && c.index < c.count &&
      length === regionEnd(a.plan, c.index) - regionStart(a.plan, c.index);
  }

  private misfit(a: Assembly, c: ChunkFields, length: number): string {
    if (c.count !== a.plan.count || c.totalLength !== a.plan.total) return `chunk ${c.index}: count or total length differs from the message's`;
    if (c.index >= c.count) return `chunk index ${c.index} out of range for ${c.count} chunks`;
    return `chunk ${c.index} has ${length} bytes, expected ${regionEnd(a.plan, c.index) - regionStart(a.plan, c.index)}`;
  }

  /** The time a message of `total` bytes is given, from its first chunk. */
  private allowedMs(total: number): number {
    return this.timeoutMs + Math.ceil((total * 1000) / this.minTransferRate);
  }

  /**
   * A new message's first chunk: charged to `chunk`, checked, charged to its type's class, and
   * only then given memory (the bitmap and this chunk) and a buffer.
   */
  private start(c: ChunkFields, plain: Uint8Array, now: number, seq: number): ChunkEvent[] {
    const limited = this.charge('chunk', c, now, seq);
    if (limited) return limited;
    const plan = planFromHeader(c.totalLength, c.count);
    if (c.count < 1 || (c.count - 1) * plan.size >= plan.total) {
      throw chunkError(c.messageId, `${c.count} chunks cannot carry ${c.totalLength} bytes`);
    }
    if (c.index !== 0) throw chunkError(c.messageId, `a message starts with its chunk 0, not ${c.index}`);
    const expected = regionEnd(plan, 0);
    if (plain.length !== expected) throw chunkError(c.messageId, `chunk 0 has ${plain.length} bytes, expected ${expected}`);
    const type = plain[0]!;
    const limitedType = this.charge(rateClassOf(type), c, now, seq);
    if (limitedType) return limitedType;
    if (this.active.size >= this.maxConcurrent) {
      throw chunkError(c.messageId, `more than ${this.maxConcurrent} chunked messages at once`);
    }
    const streamed = plan.total > this.streamThreshold;
    const limit = streamed ? this.maxStreamSize : this.maxMessageSize;
    if (plan.total > limit) throw chunkError(c.messageId, `message of ${plan.total} bytes exceeds the limit of ${limit}`);
    const a: Assembly = {
      seq, plan, idleAt: now + this.timeoutMs, endBy: now + this.allowedMs(plan.total), buffer: null, arrived: null, received: 0, reserved: 0, credit: 0, nextIndex: 0,
    };
    if (streamed) {
      this.active.set(c.messageId, a);
      return this.commitStream(c, a, plain);
    }
    const bitmap = Math.ceil(plan.count / 8);
    const first = Math.max(plain.length, Math.min(this.minReservation, CHUNK_PREFIX_BYTES + plan.total));
    const reserve = bitmap + first;
    if (this.opts.budget && !this.opts.budget.reserve(reserve)) {
      throw chunkError(c.messageId, `reassembly memory bound reached (${reserve} bytes refused)`);
    }
    try {
      a.buffer = allocReassemblyBuffer(CHUNK_PREFIX_BYTES + plan.total);
      a.arrived = new Uint8Array(bitmap);
    } catch {
      this.opts.budget?.release(reserve);
      throw chunkError(c.messageId, `could not allocate ${CHUNK_PREFIX_BYTES + plan.total} bytes for reassembly`);
    }
    a.reserved = reserve;
    a.credit = first - plain.length;
    a.buffer.set(plain, 0);
    this.active.set(c.messageId, a);
    return this.arrive(c, a, now);
  }

  /** Charges the new message to `cls`; the 'limited' event when refused. */
  private charge(cls: RateClass, c: ChunkFields, now: number, seq: number): ChunkEvent[] | null {
    const retryAfter = this.opts.charge?.(cls, now) ?? 0;
    return retryAfter > 0 ? [{ kind: 'limited', seq, messageId: c.messageId, rateClass: cls, retryAfter }] : null;
  }

  /** Marks a buffered chunk arrived; the message when it was the last. */
  private arrive(c: ChunkFields, a: Assembly, now: number): ChunkEvent[] {
    a.arrived![c.index >>> 3]! |= 1 << (c.index & 7);
    a.received++;
    a.idleAt = now + this.timeoutMs;
    if (a.received < a.plan.count) return [];
    this.release(c.messageId, a, false);
    return [{ kind: 'message', seq: a.seq, messageId: c.messageId, type: a.buffer![0]!, payload: a.buffer!.subarray(CHUNK_PREFIX_BYTES) }];
  }

  private commitStream(c: ChunkFields, a: Assembly, plain: Uint8Array): ChunkEvent[] {
    const events: ChunkEvent[] = [];
    let data = plain;
    if (c.index === 0) {
      data = plain.subarray(CHUNK_PREFIX_BYTES);
      events.push({ kind: 'stream-start', seq: a.seq, messageId: c.messageId, type: plain[0]!, total: a.plan.total });
    }
    a.nextIndex++;
    const last = a.nextIndex === a.plan.count;
    if (last) this.active.delete(c.messageId);
    events.push({ kind: 'stream-data', messageId: c.messageId, data, last });
    return events;
  }

  private release(messageId: number, a: Assembly, wipeIt: boolean): void {
    this.active.delete(messageId);
    if (a.buffer && wipeIt) this.wipeArrived(a);
    this.opts.budget?.release(a.reserved);
    a.reserved = 0;
  }

  /**
   * Zeroes the plaintext of an abandoned message: only the chunks that arrived, so that a peer
   * announcing 64 MiB and sending one chunk does not make us touch (fault in) 64 MiB to wipe it.
   */
  private wipeArrived(a: Assembly): void {
    const buffer = a.buffer!;
    const arrived = a.arrived!;
    for (let byte = 0; byte < arrived.length; byte++) {
      if (arrived[byte] === 0) continue; // eight chunks that never came: skipped together
      for (let i = byte * 8; i < Math.min(byte * 8 + 8, a.plan.count); i++) {
        if (hasArrived(a, i)) buffer.fill(0, regionStart(a.plan, i), regionEnd(a.plan, i));
      }
    }
  }
}
