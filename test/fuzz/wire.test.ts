/**
 * Fuzzing the framing layer and the record plaintext codecs: record and chunk headers, the
 * de-framer fed streams cut at random points, data-record runs and error-record payloads.
 * Only PeerError may come out (harness.ts says how to reproduce a failure).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wire } from '../../src/index.js';
import { MESSAGE_HEADER_BYTES, decodeErrorPayload, encodeErrorPayload, readRun, writeRun, type RunMessage } from '../../src/session/run.js';
import { FUZZ_TIMEOUT_MS, assertPeerError, fuzz, hostile, mutated, onlyPeerError, tally } from './harness.js';

const { FrameType } = wire;
const sid = Buffer.from('0123456789abcdef', 'hex');

function header(h: wire.RecordHeader): Buffer {
  const out = Buffer.alloc(wire.recordHeaderLength(h.type) + 16); // + a tag's worth of bytes
  wire.encodeRecordHeader(h, out, 0);
  return out;
}

const HEADERS = [
  header({ type: FrameType.Data, sessionId: sid, firstSeq: 0, count: 1 }),
  header({ type: FrameType.Data, sessionId: sid, firstSeq: 2 ** 40, count: 300 }),
  header({ type: FrameType.Error, sessionId: sid, firstSeq: 7, count: 1 }),
  header({ type: FrameType.Close, sessionId: sid, firstSeq: 9, count: 1 }),
  header({ type: FrameType.KeyUpdate, sessionId: sid, firstSeq: 2 ** 24 - 1, count: 1 }),
  header({ type: FrameType.Chunk, sessionId: sid, firstSeq: 3, count: 1, chunk: { messageId: 5, index: 0, count: 16, totalLength: 1 << 20 } }),
  header({ type: FrameType.Chunk, sessionId: sid, firstSeq: 4, count: 1, chunk: { messageId: 2 ** 52, index: 15, count: 16, totalLength: 2 ** 40 } }),
];

function run(messages: RunMessage[]): Buffer {
  const out = Buffer.alloc(messages.reduce((n, m) => n + MESSAGE_HEADER_BYTES + m.payload.length, 0));
  writeRun(messages.map((m) => m.type), messages.map((m) => m.payload), 0, messages.length, out, 0);
  return out;
}

const RUNS = [
  run([{ type: 4, payload: Buffer.from('hello') }]),
  run([{ type: 1, payload: Buffer.alloc(0) }, { type: 0x0c, payload: Buffer.alloc(40, 7) }, { type: 0x80, payload: Buffer.from('x') }]),
  run(Array.from({ length: 20 }, (_, i) => ({ type: 4, payload: Buffer.alloc(i, i) }))),
];

const ERRORS = [
  encodeErrorPayload({ code: 'RATE_LIMITED', reason: 'task rate limit', seq: 12, retryAfter: 1500, rateClass: 'task' }),
  encodeErrorPayload({ code: 'CHUNK_ERROR', reason: 'abandoned', messageId: 2 ** 40, abandoned: true }),
  encodeErrorPayload({ code: 'MALFORMED_FRAME', reason: 'ünïcødé reason' }),
  encodeErrorPayload({ code: 'RATE_LIMITED', reason: '', seq: 0, messageId: 1, retryAfter: 0, rateClass: 'chunk' }),
];

describe('fuzz: wire and record codecs', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('record and chunk headers decode or fail with a PeerError, never reading past the body', () => {
    fuzz('record header', hostile(HEADERS), (body) => {
      const out = onlyPeerError(() => wire.decodeRecordHeader(body));
      if (out instanceof Error) return;
      expect(out.length).toBeLessThanOrEqual(body.length);
      expect(out.header.count).toBeGreaterThanOrEqual(1);
      expect(Number.isSafeInteger(out.header.firstSeq)).toBe(true);
      if (out.header.chunk) expect(Number.isSafeInteger(out.header.chunk.totalLength) && Number.isSafeInteger(out.header.chunk.messageId)).toBe(true);
    });
  });

  it('the de-framer, fed mutated streams cut anywhere, yields frames within its limit or one sticky PeerError', () => {
    const frames = [...HEADERS, ...RUNS, ...ERRORS].map((b) => wire.encodeFrame(b));
    const stream = fc.record({
      bytes: mutated([Buffer.concat(frames), ...frames]),
      cuts: fc.array(fc.nat({ max: 4096 }), { maxLength: 12 }),
      max: fc.constantFrom(1, 4, 24, 64, 1024, wire.DEFAULT_MAX_FRAME_BYTES),
    });
    fuzz('deframer', stream, ({ bytes, cuts, max }) => {
      const d = new wire.Deframer({ maxFrameBytes: max });
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      let at = 0;
      let failed: unknown = null;
      let delivered = 0;
      for (const p of [...points, bytes.length]) {
        const out = onlyPeerError(() => d.push(bytes.subarray(at, p)));
        at = p;
        if (out instanceof Error) {
          failed = out;
          break;
        }
        for (const f of out) {
          expect(f.length).toBeGreaterThan(0);
          expect(f.length).toBeLessThanOrEqual(max);
          delivered += 4 + f.length;
        }
        expect(d.buffered).toBeLessThanOrEqual(max + 4);
      }
      if (failed) {
        // A stream that lost framing stays failed.
        try {
          d.push(Buffer.alloc(1));
          throw new Error('a failed de-framer accepted more bytes');
        } catch (err) {
          assertPeerError(err);
        }
      } else {
        // Bytes left over are a frame cut short: end() must say so.
        const cutShort = delivered < bytes.length;
        expect(d.buffered > 0).toBe(cutShort);
        const end = onlyPeerError(() => d.end());
        expect(end instanceof Error).toBe(cutShort);
      }
    });
  });

  it('data-record runs split into exactly `count` messages covering the plaintext, or fail with a PeerError', () => {
    // Counts: the corpus runs' own (1, 3 and 20 messages), small ones, and huge ones.
    const count = fc.oneof(fc.constantFrom(1, 3, 20), fc.integer({ min: 1, max: 25 }), fc.constantFrom(2 ** 32 - 1, 2 ** 31));
    const input = fc.record({ plain: hostile(RUNS, 64), count });
    fuzz('data run', input, ({ plain, count }) => {
      // A count in the billions over a short plaintext must fail fast, not allocate per count.
      const out = onlyPeerError(() => readRun(plain, count));
      if (out instanceof Error) return;
      tally('split');
      expect(out.length).toBe(count);
      expect(out.reduce((n, m) => n + 5 + m.payload.length, 0)).toBe(plain.length);
    });
  });

  it('error-record payloads decode to bounded fields or fail with a PeerError', () => {
    fuzz('error payload', hostile(ERRORS), (plain) => {
      const out = onlyPeerError(() => decodeErrorPayload(plain));
      if (out instanceof Error) return;
      expect(out.code.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(out.code)).toBeLessThanOrEqual(64);
      for (const k of ['seq', 'messageId', 'retryAfter'] as const) if (out[k] !== undefined) expect(Number.isSafeInteger(out[k])).toBe(true);
      if (out.rateClass !== undefined) expect(Buffer.byteLength(out.rateClass)).toBeLessThanOrEqual(32);
    });
  });
});
