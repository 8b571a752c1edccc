/**
 * Sealed records an authenticated attacker sends: honest most of the time (so later records are
 * reached), with plaintexts mutated (data runs, error payloads, chunk bodies, key_update and
 * close bodies) and header fields forged now and then (type, count, sequence number, flags,
 * reserved byte, session id, chunk fields). Shared by the in-process fuzzers (records.test.ts,
 * peer.test.ts) and the one over TCP against a child process (authenticated.test.ts).
 */
import fc from 'fast-check';
import { wire } from '../../src/index.js';
import * as delivery from '../../src/peer/envelope.js';
import * as queued from '../../src/queue/envelope.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { runOf } from '../helpers/authenticated-peer.js';
import type { ForgedFields, RecordForger } from '../helpers/record-forger.js';
import { hostile } from './harness.js';

const { FrameType } = wire;

const RUNS = [
  runOf([{ type: 4, payload: Buffer.from('hello') }]),
  runOf([{ type: 1, payload: Buffer.alloc(0) }, { type: 0x0c, payload: Buffer.alloc(40, 7) }]),
  runOf(Array.from({ length: 8 }, (_, i) => ({ type: 0x80 + i, payload: Buffer.alloc(i, i) }))),
  // Messages whose payload has a format of its own: delivery envelopes, replies and acks (PROTOCOL.md §6), the offline queue's (QUEUE.md).
  runOf([
    { type: delivery.ENVELOPE_TYPE, payload: delivery.encodeEnvelope('ack', 0x04, Buffer.alloc(16, 1), Buffer.from('x')) },
    { type: delivery.ENVELOPE_TYPE, payload: delivery.encodeEnvelope('request', 0x04, Buffer.alloc(16, 2), Buffer.from('y')) },
  ]),
  runOf([
    { type: delivery.REPLY_TYPE, payload: delivery.encodeReplyOk(0x04, Buffer.alloc(16, 0), Buffer.from('z')) },
    { type: delivery.REPLY_TYPE, payload: delivery.encodeReplyError(0x04, Buffer.alloc(16, 0), 'NOPE', 'no', 5) },
    { type: delivery.ACK_TYPE, payload: delivery.encodeAck(Buffer.alloc(16, 0)) },
  ]),
  runOf([
    { type: 0x20, payload: queued.encodeEnvelope({ id: Buffer.alloc(16, 3), epoch: Buffer.alloc(8, 4), pos: 1, prev: 0, ttlSeconds: 60, type: 0x04, payload: Buffer.from('q') }) },
    { type: 0x21, payload: queued.encodeAck(queued.AckKind.Acked, [Buffer.alloc(16, 3)]) },
  ]),
];
const ERRORS = [
  encodeErrorPayload({ code: 'RATE_LIMITED', reason: 'task rate limit', seq: 1, retryAfter: 1500, rateClass: 'task' }),
  encodeErrorPayload({ code: 'CHUNK_ERROR', reason: 'abandoned', messageId: 1, abandoned: true }),
  encodeErrorPayload({ code: 'CHUNK_ERROR', reason: 'refused', messageId: 0 }),
  encodeErrorPayload({ code: 'SEQUENCE_ERROR', reason: 'fatal' }),
];

const u32Edge = fc.constantFrom(0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff);
const u53Edge = fc.constantFrom(0, 1, 2 ** 32, 2 ** 52, 2 ** 53 - 1, 2 ** 53, 2 ** 60);

/** Chunk fields: mostly a small plausible message (ids 0–3, ≤ 5 chunks), sometimes edge values. */
const chunkFields = fc.record({
  messageId: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 3 }) }, { weight: 1, arbitrary: u53Edge }),
  index: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: u32Edge }),
  count: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 5 }) }, { weight: 1, arbitrary: u32Edge }),
  totalLength: fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: 600 }) },
    { weight: 2, arbitrary: u53Edge },
    // Sizes a receiver may buffer whole: what chunk 0 of them makes it reserve or allocate.
    { weight: 1, arbitrary: fc.constantFrom(1 << 20, 16 << 20, (64 << 20) - 1, 64 << 20) },
  ),
});

/** The plaintext an honest sender would put in that chunk (type byte first in chunk 0), if small. */
function honestChunk(c: wire.ChunkFields, type: number): Buffer {
  const size = Math.ceil(c.totalLength / Math.max(1, c.count));
  const length = Math.min(size, c.totalLength - c.index * size);
  const n = Math.max(0, Math.min(length, 4096)) + (c.index === 0 ? 1 : 0);
  const b = Buffer.alloc(n, 0x5a);
  if (c.index === 0 && n > 0) b[0] = type;
  return b;
}

export interface ForgedRecord {
  type: wire.RecordType;
  plain: Uint8Array;
  fields: ForgedFields;
  /** Sequence number off by this much from the next expected one (null: honest). */
  seqDelta: number | null;
}

/** Half the time the honest plaintext (so later records are reached), else a hostile one. */
const honestOr = (corpus: Uint8Array[]): fc.Arbitrary<Uint8Array> => fc.oneof(fc.constantFrom(...corpus), hostile(corpus, 64));
const plainFor = (type: wire.RecordType): fc.Arbitrary<Uint8Array> =>
  type === FrameType.Data ? honestOr(RUNS)
    : type === FrameType.Error ? honestOr(ERRORS)
      : fc.oneof({ weight: 4, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) });

/** `arb` once in `n` times, else null (the honest value). */
const rarely = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Header fields left honest most of the time, each forged now and then. */
const forgedFields = fc.record({
  count: rarely(fc.oneof(fc.integer({ min: 0, max: 9 }), u32Edge), 6),
  seqDelta: rarely(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constant(2 ** 31)), 12),
  flags: rarely(fc.nat({ max: 255 }), 20),
  reserved: rarely(fc.nat({ max: 255 }), 30),
  // Another type byte under the same tag: a record type for another, a handshake type, '{', anything.
  retype: rarely(fc.oneof(fc.integer({ min: FrameType.Data, max: FrameType.KeyUpdate }), fc.constantFrom(0x01, 0x06, 0x07, 0x09, 0x0f, 0x15, 0x7b, 0xff)), 25),
  sessionId: rarely(fc.uint8Array({ minLength: 8, maxLength: 8 }), 40),
});

export const forgedRecord: fc.Arbitrary<ForgedRecord> = fc.oneof(
  // Data, error, close, key_update: mutated plaintexts, sometimes forged headers.
  fc.constantFrom(FrameType.Data, FrameType.Data, FrameType.Error, FrameType.Close, FrameType.KeyUpdate)
    .chain((type) => fc.record({ type: fc.constant(type), plain: plainFor(type), f: forgedFields })),
  // Chunks: plausible fields and the plaintext they call for, or a mutation of it.
  fc.record({ c: chunkFields, mutate: rarely(fc.uint8Array({ maxLength: 12 }), 4), f: forgedFields })
    .map(({ c, mutate, f }) => {
      const plain = honestChunk(c, 4);
      return { type: FrameType.Chunk as wire.RecordType, plain: mutate ? Buffer.concat([plain.subarray(0, mutate.length), mutate]) : plain, f: { ...f, chunk: c } };
    }),
).map(({ type, plain, f }) => {
  const fields: ForgedFields = {};
  if (f.count !== null) fields.count = f.count;
  if (f.flags !== null) fields.flags = f.flags;
  if (f.reserved !== null) fields.reserved = f.reserved;
  if (f.sessionId !== null) fields.sessionId = f.sessionId;
  if ('chunk' in f) fields.chunk = (f as { chunk: wire.ChunkFields }).chunk;
  return { type: (f.retype ?? type) as wire.RecordType, plain, fields, seqDelta: f.seqDelta };
});


/**
 * A whole chunked message as an honest sender cuts it (chunk size `chunk`, the plan of
 * chunking/plan.ts), its chunks sent in order, or with chunk 0 first and the rest reversed,
 * one of them sent twice or left out; now and then one chunk's plaintext cut or extended.
 */
const chunkedMessage: fc.Arbitrary<ForgedRecord[]> = fc.record({
  messageId: fc.nat({ max: 3 }),
  total: fc.integer({ min: 1, max: 1200 }),
  chunk: fc.integer({ min: 1, max: 400 }),
  type: fc.constantFrom(0x04, 0x0c, 0x80),
  order: fc.constantFrom('in order', 'in order', 'reversed', 'duplicate', 'missing'),
  pick: fc.nat(),
  bend: rarely(fc.integer({ min: -3, max: 3 }), 6),
}).map(({ messageId, total, chunk, type, order, pick, bend }) => {
  const count = Math.ceil(total / chunk);
  const size = Math.ceil(total / count);
  const records = Array.from({ length: count }, (_, index): ForgedRecord => {
    const length = Math.min(size, total - index * size) + (index === 0 ? 1 : 0);
    const plain = Buffer.alloc(length, 0x5a);
    if (index === 0) plain[0] = type;
    return { type: FrameType.Chunk, plain, fields: { chunk: { messageId, index, count, totalLength: total } }, seqDelta: null };
  });
  const at = pick % count;
  if (bend !== null) {
    const p = records[at]!.plain;
    records[at]!.plain = bend < 0 ? p.subarray(0, Math.max(0, p.length + bend)) : Buffer.concat([p, Buffer.alloc(bend, 1)]);
  }
  if (order === 'reversed') return [records[0]!, ...records.slice(1).reverse()];
  if (order === 'duplicate') return [...records.slice(0, at + 1), records[at]!, ...records.slice(at + 1)];
  if (order === 'missing' && count > 1) return records.filter((_, i) => i !== Math.max(1, at));
  return records;
});

/** What one attacker sends: single forged records and whole chunked messages, up to about 16 records. */
export const forgedRecords: fc.Arbitrary<ForgedRecord[]> = fc.array(
  fc.oneof({ weight: 4, arbitrary: forgedRecord.map((r) => [r]) }, { weight: 1, arbitrary: chunkedMessage }),
  { minLength: 1, maxLength: 8 },
).map((groups) => groups.flat().slice(0, 16));

/** Seals one record with `forger` at its next sequence number, plus the record's seqDelta. */
export function sealRecord(forger: RecordForger, r: ForgedRecord): Buffer {
  const firstSeq = Math.max(0, forger.nextSeq + (r.seqDelta ?? 0));
  return forger.record(r.type, r.plain, { ...r.fields, firstSeq });
}

/** Seals `records` in order with `forger`. */
export function sealRecords(forger: RecordForger, records: readonly ForgedRecord[]): Buffer[] {
  return records.map((r) => sealRecord(forger, r));
}
