/**
 * Receiving chunked messages, sans-I/O. For each chunk record the session asks `prepare()`
 * where the chunk's plaintext goes, decrypts it straight there (the native AEAD writes into
 * the reassembly buffer: no copy), then calls `commit()`. A buffered message has one buffer,
 * allocated once at its announced size after the limits and memory budgets allowed it; a
 * streamed message is handed on chunk by chunk and never held whole.
 *
 * Layout: chunk 0's plaintext is `type (u8) ‖ payload`, every other chunk's is payload only,
 * so the buffer is `1 + total` bytes with chunk i at 1 + i·size and the message is buffer[1…].
 * Every violation is a PeerError CHUNK_ERROR (with the message id): the message is dropped
 * and its memory freed, and the session goes on.
 */
import { ErrorCode, PeerError } from '../errors.js';
import type { ChunkFields } from '../wire/index.js';
import type { MemoryBudget } from './budget.js';
import { allocReassemblyBuffer } from './buffer-pool.js';
import {
  CHUNK_PREFIX_BYTES, DEFAULT_MAX_CONCURRENT_REASSEMBLIES, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_STREAM_SIZE,
  DEFAULT_REASSEMBLY_TIMEOUT_MS, DEFAULT_STREAM_THRESHOLD,
} from './constants.js';
import { chunkLength, chunkOffset, planFromHeader, type ChunkPlan } from './plan.js';

export interface ReassemblyOptions {
  maxMessageSize?: number;
  maxStreamSize?: number;
  maxConcurrent?: number;
  timeoutMs?: number;
  /** Messages larger than this arrive as streams. */
  streamThreshold?: number;
  /** Memory budget of the peer (itself inside the process budget). */
  budget?: MemoryBudget;
}

export type ChunkEvent =
  | { kind: 'message'; seq: number; messageId: number; type: number; payload: Buffer }
  | { kind: 'stream-start'; seq: number; messageId: number; type: number; total: number }
  | { kind: 'stream-data'; messageId: number; data: Uint8Array; last: boolean };

interface Assembly {
  /** The message number it was given when its first chunk arrived. */
  seq: number;
  plan: ChunkPlan;
  deadline: number;
  /** Buffered: the whole message (1 + total bytes) and which chunks arrived. */
  buffer: Buffer | null;
  arrived: Uint8Array | null;
  received: number;
  /** Streamed: the next index expected (chunks must come in order). */
  nextIndex: number;
  type: number;
}

/** Where prepare() wants a chunk's plaintext: a region to decrypt into, or in place (stream). */
export interface ChunkTarget {
  into: Uint8Array | null;
  duplicate: boolean;
}

/** Where chunk `index`'s plaintext starts in its message's buffer (chunk 0 leads with the type byte). */
function regionStart(plan: ChunkPlan, index: number): number {
  return index === 0 ? 0 : CHUNK_PREFIX_BYTES + chunkOffset(plan, index);
}

/** Where chunk `index`'s plaintext ends in its message's buffer. */
function regionEnd(plan: ChunkPlan, index: number): number {
  return CHUNK_PREFIX_BYTES + chunkOffset(plan, index) + chunkLength(plan, index);
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
  private readonly streamThreshold: number;

  constructor(private readonly opts: ReassemblyOptions = {}) {
    this.maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxStreamSize = opts.maxStreamSize ?? DEFAULT_MAX_STREAM_SIZE;
    this.maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_REASSEMBLIES;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS;
    this.streamThreshold = opts.streamThreshold ?? DEFAULT_STREAM_THRESHOLD;
  }

  /** Messages being received. */
  get inProgress(): number {
    return this.active.size;
  }

  /** The earliest reassembly deadline, or null. */
  get deadline(): number | null {
    let d: number | null = null;
    for (const a of this.active.values()) if (d === null || a.deadline < d) d = a.deadline;
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
   * Validates a chunk and says where its plaintext (`plainLength` bytes) goes; a new message
   * gets message number `seq`. Returns null for a chunk of a message already refused or
   * abandoned (dropped silently: it was reported).
   */
  prepare(c: ChunkFields, plainLength: number, now: number, seq: number): ChunkTarget | null {
    if (c.index >= c.count) {
      const known = this.active.get(c.messageId);
      if (known === undefined && c.messageId > this.lastMessageId) this.lastMessageId = c.messageId;
      throw this.abort(c.messageId, `chunk index ${c.index} out of range for ${c.count} chunks`, known);
    }
    let a = this.active.get(c.messageId);
    if (a === undefined) {
      if (c.messageId <= this.lastMessageId) return null;
      this.lastMessageId = c.messageId;
      a = this.start(c, now, seq);
    }
    if (c.count !== a.plan.count || c.totalLength !== a.plan.total) {
      throw this.abort(c.messageId, `chunk ${c.index}: count or total length differs from the message's`);
    }
    const at = regionStart(a.plan, c.index);
    const expected = regionEnd(a.plan, c.index) - at;
    if (plainLength !== expected) throw this.abort(c.messageId, `chunk ${c.index} has ${plainLength} bytes, expected ${expected}`);
    a.deadline = now + this.timeoutMs;
    if (a.buffer === null) {
      if (c.index !== a.nextIndex) throw this.abort(c.messageId, `streamed chunk ${c.index} out of order (expected ${a.nextIndex})`);
      return { into: null, duplicate: false };
    }
    if (a.arrived![c.index]) return { into: Buffer.allocUnsafe(plainLength), duplicate: true };
    return { into: a.buffer.subarray(at, at + plainLength), duplicate: false };
  }

  /**
   * Records a decrypted chunk. `plain` is what was decrypted (the target region, or the record's
   * own plaintext for a stream). Returns the events it completes.
   */
  commit(c: ChunkFields, target: ChunkTarget, plain: Uint8Array): ChunkEvent[] {
    const a = this.active.get(c.messageId)!;
    if (a.buffer === null) return this.commitStream(c, a, plain);
    const at = regionStart(a.plan, c.index);
    if (target.duplicate) {
      if (!a.buffer.subarray(at, at + plain.length).equals(plain)) throw this.abort(c.messageId, `chunk ${c.index} arrived twice with different content`);
      return [];
    }
    a.arrived![c.index] = 1;
    a.received++;
    if (a.received < a.plan.count) return [];
    this.release(c.messageId, a, false);
    return [{ kind: 'message', seq: a.seq, messageId: c.messageId, type: a.buffer[0]!, payload: a.buffer.subarray(CHUNK_PREFIX_BYTES) }];
  }

  /** Abandons messages whose next chunk is overdue; returns their CHUNK_ERRORs. */
  expire(now: number): PeerError[] {
    const errors: PeerError[] = [];
    for (const [id, a] of this.active) {
      if (now >= a.deadline) errors.push(this.abort(id, `no chunk for ${this.timeoutMs} ms`, a));
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

  private start(c: ChunkFields, now: number, seq: number): Assembly {
    const plan = planFromHeader(c.totalLength, c.count);
    if (c.count < 1 || (c.count - 1) * plan.size >= plan.total) {
      throw chunkError(c.messageId, `${c.count} chunks cannot carry ${c.totalLength} bytes`);
    }
    if (this.active.size >= this.maxConcurrent) {
      throw chunkError(c.messageId, `more than ${this.maxConcurrent} chunked messages at once`);
    }
    const streamed = plan.total > this.streamThreshold;
    const limit = streamed ? this.maxStreamSize : this.maxMessageSize;
    if (plan.total > limit) throw chunkError(c.messageId, `message of ${plan.total} bytes exceeds the limit of ${limit}`);
    let buffer: Buffer | null = null;
    let arrived: Uint8Array | null = null;
    if (!streamed) {
      const bytes = CHUNK_PREFIX_BYTES + plan.total;
      if (this.opts.budget && !this.opts.budget.reserve(bytes)) {
        throw chunkError(c.messageId, `reassembly memory bound reached (${bytes} bytes refused)`);
      }
      try {
        buffer = allocReassemblyBuffer(bytes);
      } catch {
        this.opts.budget?.release(bytes);
        throw chunkError(c.messageId, `could not allocate ${bytes} bytes for reassembly`);
      }
      arrived = new Uint8Array(plan.count);
    }
    const a: Assembly = { seq, plan, deadline: now + this.timeoutMs, buffer, arrived, received: 0, nextIndex: 0, type: 0 };
    this.active.set(c.messageId, a);
    return a;
  }

  private commitStream(c: ChunkFields, a: Assembly, plain: Uint8Array): ChunkEvent[] {
    const events: ChunkEvent[] = [];
    let data = plain;
    if (c.index === 0) {
      a.type = plain[0]!;
      data = plain.subarray(CHUNK_PREFIX_BYTES);
      events.push({ kind: 'stream-start', seq: a.seq, messageId: c.messageId, type: a.type, total: a.plan.total });
    }
    a.nextIndex++;
    const last = a.nextIndex === a.plan.count;
    if (last) this.active.delete(c.messageId);
    events.push({ kind: 'stream-data', messageId: c.messageId, data, last });
    return events;
  }

  private release(messageId: number, a: Assembly, wipeIt: boolean): void {
    this.active.delete(messageId);
    if (a.buffer) {
      if (wipeIt) this.wipeArrived(a);
      this.opts.budget?.release(a.buffer.length);
    }
  }

  /**
   * Zeroes the plaintext of an abandoned message: only the chunks that arrived, so that a peer
   * announcing 64 MiB and sending one chunk does not make us touch (fault in) 64 MiB to wipe it.
   */
  private wipeArrived(a: Assembly): void {
    const buffer = a.buffer!;
    const arrived = a.arrived!;
    for (let i = 0; i < arrived.length; i++) {
      if (arrived[i] !== 0) buffer.fill(0, regionStart(a.plan, i), regionEnd(a.plan, i));
    }
  }
}
