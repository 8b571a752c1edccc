/**
 * Fuzzing the sealed-record layer with the keys: a SecureSession (sans-I/O) receives records
 * sealed under the real session keys, so the tag verifies and only its decoding of headers and
 * plaintexts stands between the bytes and the caller. Headers are forged (counts, sequence
 * numbers, flags, reserved byte, session id, chunk fields) and plaintexts mutated (runs, error
 * payloads, chunk bodies, key_update and close bodies). Only PeerError may come out, the result
 * must be well-formed, and a destroyed session must give back all its reassembly memory.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Identity, wire } from '../../src/index.js';
import { MemoryBudget } from '../../src/chunking/index.js';
import { Handshake, SessionState, type HandshakeResult } from '../../src/handshake/index.js';
import { SecureSession, type ReceiveResult } from '../../src/session/index.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { runOf } from '../helpers/authenticated-peer.js';
import { RecordForger, type ForgedFields } from '../helpers/record-forger.js';
import { assertPeerError, fuzz, hostile, onlyPeerError, tally } from './harness.js';

const { FrameType } = wire;
const T0 = 1_780_000_000_000;

let attacker: HandshakeResult;
let victim: HandshakeResult;

beforeAll(() => {
  const { handshake: a, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'mallory' }, T0);
  const b = Handshake.respond({ identity: Identity.generate(), entityId: 'victim' }, T0);
  let toB = send;
  while (toB.length > 0) toB = toB.flatMap((m) => b.receive(m, T0)).flatMap((m) => a.receive(m, T0));
  attacker = a.result!;
  victim = b.result!;
});

const RUNS = [
  runOf([{ type: 4, payload: Buffer.from('hello') }]),
  runOf([{ type: 1, payload: Buffer.alloc(0) }, { type: 0x0c, payload: Buffer.alloc(40, 7) }]),
  runOf(Array.from({ length: 8 }, (_, i) => ({ type: 0x80 + i, payload: Buffer.alloc(i, i) }))),
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
  totalLength: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 600 }) }, { weight: 1, arbitrary: u53Edge }),
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

interface ForgedRecord {
  type: wire.RecordType;
  plain: Uint8Array;
  fields: ForgedFields;
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
});

const record: fc.Arbitrary<ForgedRecord & { seqDelta: number | null }> = fc.oneof(
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
  if ('chunk' in f) fields.chunk = (f as { chunk: wire.ChunkFields }).chunk;
  return { type, plain, fields, seqDelta: f.seqDelta };
});

function copyKeys(r: HandshakeResult): HandshakeResult {
  return { ...r, sendKey: Buffer.from(r.sendKey), recvKey: Buffer.from(r.recvKey), sendIv: Buffer.from(r.sendIv), recvIv: Buffer.from(r.recvIv) };
}

function checkResult(r: ReceiveResult): void {
  if (r.error !== null) {
    assertPeerError(r.error);
    tally(`error ${r.error.code}`);
  }
  for (const reply of r.replies) expect(Buffer.isBuffer(reply)).toBe(true);
  for (const e of r.events) {
    tally(e.kind);
    if (e.kind === 'message') expect(e.payload).toBeInstanceOf(Uint8Array);
    if (e.kind === 'chunk-error') assertPeerError(e.error);
    if (e.kind === 'error') expect(typeof e.error.code).toBe('string');
  }
}

describe('fuzz: sealed records under the real keys', () => {
  it('a SecureSession fed forged records fails only with a PeerError and frees its reassembly memory', () => {
    const input = fc.record({ records: fc.array(record, { minLength: 1, maxLength: 8 }), oneRead: fc.boolean() });
    fuzz('sealed records', input, ({ records, oneRead }) => {
      const budget = new MemoryBudget(4 << 20);
      const session = new SecureSession(copyKeys(victim), T0, { reassembly: { budget, maxMessageSize: 1 << 20, streamThreshold: 256 } });
      const forger = new RecordForger({ sendKey: attacker.sendKey, sendIv: attacker.sendIv, sessionId: attacker.sessionId });
      let next = 0;
      const frames = records.map((r) => {
        const firstSeq = Math.max(0, next + (r.seqDelta ?? 0));
        const frame = forger.record(r.type, r.plain, { ...r.fields, firstSeq });
        next = firstSeq + Math.max(1, r.fields.count ?? 1);
        return frame;
      });
      // One socket read (frames sharing a buffer: the batched path) or one read per record.
      const reads = oneRead ? [Buffer.concat(frames)] : frames;
      const deframer = new wire.Deframer();
      let now = T0;
      for (const read of reads) {
        const bodies = deframer.push(read);
        const out = onlyPeerError(() => session.receiveMany(bodies, now));
        if (!(out instanceof Error)) checkResult(out);
        if (session.state !== SessionState.Ready) break;
        now += 10;
      }
      // Deadlines later on must not throw either, and an ended session refuses quietly.
      const polled = onlyPeerError(() => session.poll(now + 60_000));
      if (!(polled instanceof Error)) checkResult(polled);
      if (session.state !== SessionState.Ready) {
        const after = onlyPeerError(() => session.receiveMany([Buffer.alloc(40)], now));
        if (!(after instanceof Error)) expect(after.error).not.toBeNull();
      }
      session.destroy();
      expect(budget.inUse).toBe(0);
    }, { minRuns: 20 });
  });
});
