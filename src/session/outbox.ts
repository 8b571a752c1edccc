/**
 * The sending side's queue, in order: small messages (coalesced into data records), the chunks
 * of large messages (one chunk record each, payload views: no copy), and at most one outgoing
 * stream. Message numbers are assigned here, one per message however many chunks it takes.
 */
import { CHUNK_PREFIX_BYTES, chunkLength, planChunks, type ChunkPlan } from '../chunking/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { FrameType, type ChunkFields } from '../wire/index.js';
import { MESSAGE_HEADER_BYTES, writeRun } from './run.js';
import type { OutRecord } from './seal.js';

/** A chunk of a large message, queued as one record. */
interface ChunkItem {
  fields: ChunkFields;
  type: number;
  data: Uint8Array;
}

/** `types[i]` of a chunk item (message types are 0–255). */
const CHUNK = -1;

interface OutStream {
  messageId: number;
  type: number;
  plan: ChunkPlan;
  index: number;
  written: number;
  /** A chunk being filled from pieces that straddle chunk boundaries. */
  partial: Buffer | null;
  filled: number;
}

export class Outbox {
  /**
   * The queue as two parallel arrays, so a small message costs no object of its own: item i is
   * a message of type `types[i]` with payload `items[i]`, or (types[i] = CHUNK) a ChunkItem.
   */
  private types: number[] = [];
  private items: (Uint8Array | ChunkItem)[] = [];
  private head = 0;
  private queued = 0;
  private messages = 0;
  private nextMessageId = 0;
  private stream: OutStream | null = null;

  constructor(private readonly maxRecordPayload: number) {}

  /** Plaintext bytes queued. */
  get bytes(): number {
    return this.queued;
  }

  get empty(): boolean {
    return this.head === this.items.length;
  }

  /** The next message number. */
  get nextSeq(): number {
    return this.messages;
  }

  get streaming(): boolean {
    return this.stream !== null;
  }

  /** Queues one message, chunked when it does not fit a record; returns its message number. */
  message(type: number, payload: Uint8Array): number {
    this.noStream();
    if (payload.length + MESSAGE_HEADER_BYTES <= this.maxRecordPayload) {
      this.types.push(type);
      this.items.push(payload);
      this.queued += payload.length + MESSAGE_HEADER_BYTES;
      return this.messages++;
    }
    const plan = planChunks(payload.length, this.maxRecordPayload - CHUNK_PREFIX_BYTES);
    const messageId = this.nextMessageId++;
    for (let index = 0; index < plan.count; index++) {
      const at = index * plan.size;
      this.pushChunk(messageId, plan, index, type, payload.subarray(at, at + chunkLength(plan, index)));
    }
    return this.messages++;
  }

  /** Starts a message of `total` bytes whose payload arrives through streamWrite(). */
  beginStream(type: number, total: number): { seq: number; messageId: number } {
    this.noStream();
    const plan = planChunks(total, this.maxRecordPayload - CHUNK_PREFIX_BYTES);
    const messageId = this.nextMessageId++;
    this.stream = { messageId, type, plan, index: 0, written: 0, partial: null, filled: 0 };
    return { seq: this.messages++, messageId };
  }

  /** Queues the next bytes of the stream, cut into chunks. */
  streamWrite(bytes: Uint8Array): void {
    const s = this.stream;
    if (s === null) throw new PeerError(ErrorCode.INVALID_STATE, 'no stream in progress');
    if (s.written + bytes.length > s.plan.total) {
      throw new PeerError(ErrorCode.CHUNK_ERROR, `stream longer than the ${s.plan.total} bytes announced`, { messageId: s.messageId });
    }
    s.written += bytes.length;
    let at = 0;
    while (at < bytes.length) {
      const need = chunkLength(s.plan, s.index) - s.filled;
      if (s.partial === null && bytes.length - at >= need) {
        this.pushChunk(s.messageId, s.plan, s.index++, s.type, bytes.subarray(at, at + need));
        at += need;
        continue;
      }
      s.partial ??= Buffer.allocUnsafe(chunkLength(s.plan, s.index));
      const take = Math.min(need, bytes.length - at);
      s.partial.set(bytes.subarray(at, at + take), s.filled);
      s.filled += take;
      at += take;
      if (s.filled === s.partial.length) {
        this.pushChunk(s.messageId, s.plan, s.index++, s.type, s.partial);
        s.partial = null;
        s.filled = 0;
      }
    }
  }

  /** Ends the stream; it must have carried exactly the announced length. */
  endStream(): void {
    const s = this.stream;
    if (s === null) throw new PeerError(ErrorCode.INVALID_STATE, 'no stream in progress');
    this.stream = null;
    if (s.written !== s.plan.total) {
      throw new PeerError(ErrorCode.CHUNK_ERROR, `stream carried ${s.written} of the ${s.plan.total} bytes announced`, { messageId: s.messageId });
    }
  }

  /** Drops every queued chunk of a message (the peer refused it, or its stream failed). */
  drop(messageId: number): void {
    if (this.stream?.messageId === messageId) this.stream = null;
    const types: number[] = [];
    const items: (Uint8Array | ChunkItem)[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (this.types[i] === CHUNK && (item as ChunkItem).fields.messageId === messageId) {
        this.queued -= (item as ChunkItem).data.length;
        continue;
      }
      types.push(this.types[i]!);
      items.push(item);
    }
    this.types = types;
    this.items = items;
    this.head = 0;
  }

  /** Takes queued items as records: messages coalesced up to the payload limit, one record per chunk. */
  take(maxBytes: number): OutRecord[] {
    const records: OutRecord[] = [];
    const { types, items } = this;
    let taken = 0;
    let runStart = this.head;
    let runBytes = 0;
    const endRun = (end: number): void => {
      if (end === runStart) return;
      const from = runStart;
      records.push({ type: FrameType.Data, count: end - from, plainLength: runBytes, write: (f, at) => writeRun(types, items as Uint8Array[], from, end, f, at) });
      runBytes = 0;
    };
    while (this.head < items.length && taken < maxBytes) {
      const i = this.head++;
      const type = types[i]!;
      if (type !== CHUNK) {
        const n = (items[i] as Uint8Array).length + MESSAGE_HEADER_BYTES;
        if (runBytes + n > this.maxRecordPayload) {
          endRun(i);
          runStart = i;
        }
        runBytes += n;
        taken += n;
        this.queued -= n;
        continue;
      }
      endRun(i);
      runStart = i + 1;
      const { fields, type: chunkType, data } = items[i] as ChunkItem;
      if (fields.index === 0) {
        // Chunk 0 leads with the type byte: copied in with it.
        records.push({
          type: FrameType.Chunk, count: 1, plainLength: CHUNK_PREFIX_BYTES + data.length, chunk: fields,
          write: (f, at) => {
            f[at] = chunkType;
            f.set(data, at + CHUNK_PREFIX_BYTES);
          },
        });
      } else {
        records.push({ type: FrameType.Chunk, count: 1, plainLength: data.length, chunk: fields, source: data });
      }
      taken += data.length;
      this.queued -= data.length;
    }
    endRun(this.head);
    if (this.head === items.length) {
      // New arrays (not truncated ones): the records above still read the old ones.
      this.types = [];
      this.items = [];
      this.head = 0;
    }
    return records;
  }

  private pushChunk(messageId: number, plan: ChunkPlan, index: number, type: number, data: Uint8Array): void {
    this.types.push(CHUNK);
    this.items.push({ fields: { messageId, index, count: plan.count, totalLength: plan.total }, type, data });
    this.queued += data.length;
  }

  private noStream(): void {
    if (this.stream !== null) throw new PeerError(ErrorCode.INVALID_STATE, 'a stream is in progress on this session; wait for it to end');
  }
}
