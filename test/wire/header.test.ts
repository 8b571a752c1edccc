import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PeerError, wire } from '../../src/index.js';
import { codeOf } from '../helpers/errors.js';

const { FrameType, encodeRecordHeader, decodeRecordHeader, RECORD_HEADER_BYTES, CHUNKED_RECORD_HEADER_BYTES } = wire;
type RecordHeader = wire.RecordHeader;

const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const sessionId = fc.uint8Array({ minLength: 8, maxLength: 8 });

const plainHeader = fc.record({
  type: fc.constantFrom(FrameType.Data, FrameType.Error, FrameType.Close),
  sessionId,
  firstSeq: u53,
}).chain((h) => fc.record({
  type: fc.constant(h.type),
  sessionId: fc.constant(h.sessionId),
  firstSeq: fc.constant(h.firstSeq),
  count: h.type === FrameType.Data ? fc.integer({ min: 1, max: 2 ** 32 - 1 }) : fc.constant(1),
})) as fc.Arbitrary<RecordHeader>;

const chunkHeader = fc.record({
  type: fc.constant(FrameType.Chunk as const),
  sessionId,
  firstSeq: u53,
  count: fc.constant(1),
  chunk: fc.integer({ min: 1, max: 2 ** 32 - 1 }).chain((count) => fc.record({
    messageId: u53,
    index: fc.integer({ min: 0, max: count - 1 }),
    count: fc.constant(count),
    totalLength: u53,
  })),
}) as fc.Arbitrary<RecordHeader>;

function encode(h: RecordHeader): Uint8Array {
  const out = new Uint8Array(CHUNKED_RECORD_HEADER_BYTES + 16);
  const n = encodeRecordHeader(h, out);
  return out.subarray(0, n + 16);
}

/** Runs fn; anything it throws must be a PeerError (its code is returned). */
function codeIfThrown(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PeerError);
    return (e as PeerError).code;
  }
  return undefined;
}

describe('record header codec', () => {
  it('round-trips every valid header (property)', () => {
    fc.assert(
      fc.property(fc.oneof(plainHeader, chunkHeader), (h) => {
        const { header, length } = decodeRecordHeader(encode(h));
        expect(length).toBe(h.type === FrameType.Chunk ? CHUNKED_RECORD_HEADER_BYTES : RECORD_HEADER_BYTES);
        expect({ ...header, sessionId: Buffer.from(header.sessionId) }).toEqual({ ...h, sessionId: Buffer.from(h.sessionId) });
      }),
      { numRuns: 1000 },
    );
  });

  it('lays out the fields big-endian at the documented offsets', () => {
    const bytes = encode({
      type: FrameType.Chunk, sessionId: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), firstSeq: 0x0102030405, count: 1,
      chunk: { messageId: 7, index: 2, count: 3, totalLength: 0x10000 },
    });
    expect(Buffer.from(bytes.subarray(0, CHUNKED_RECORD_HEADER_BYTES)).toString('hex')).toBe(
      '11' + '11' + '01' + '00' + '0102030405060708' + '0000000102030405' + '00000001' +
      '0000000000000007' + '00000002' + '00000003' + '0000000000010000',
    );
  });

  it('never throws anything but PeerError on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        codeIfThrown(() => decodeRecordHeader(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  const valid = () => encode({ type: FrameType.Data, sessionId: new Uint8Array(8), firstSeq: 5, count: 2 });

  it('maps each malformation to its code', () => {
    expect(codeOf(() => decodeRecordHeader(valid().subarray(0, 23)))).toBe('MALFORMED_FRAME');
    const badVersion = valid();
    badVersion[0] = 0x10;
    expect(codeOf(() => decodeRecordHeader(badVersion))).toBe('INVALID_VERSION');
    const badType = valid();
    badType[1] = 0x01; // a handshake type is not a record
    expect(codeOf(() => decodeRecordHeader(badType))).toBe('MALFORMED_FRAME');
    const unknownFlag = valid();
    unknownFlag[2] = 0x80;
    expect(codeOf(() => decodeRecordHeader(unknownFlag))).toBe('MALFORMED_FRAME');
    const reserved = valid();
    reserved[3] = 1;
    expect(codeOf(() => decodeRecordHeader(reserved))).toBe('MALFORMED_FRAME');
    const chunkFlagOnData = valid();
    chunkFlagOnData[2] = 0x01;
    expect(codeOf(() => decodeRecordHeader(chunkFlagOnData))).toBe('MALFORMED_FRAME');
    const zeroCount = valid();
    zeroCount.fill(0, 20, 24);
    expect(codeOf(() => decodeRecordHeader(zeroCount))).toBe('MALFORMED_FRAME');
    const hugeSeq = valid();
    hugeSeq[12] = 0xff;
    expect(codeOf(() => decodeRecordHeader(hugeSeq))).toBe('MALFORMED_FRAME');
  });

  it('parses chunk fields whatever their values (the reassembler judges them) but not a short chunk header', () => {
    const chunk = encode({
      type: FrameType.Chunk, sessionId: new Uint8Array(8), firstSeq: 0, count: 1,
      chunk: { messageId: 1, index: 0, count: 2, totalLength: 10 },
    });
    expect(codeOf(() => decodeRecordHeader(chunk.subarray(0, 40)))).toBe('MALFORMED_FRAME');
    const indexOut = Uint8Array.from(chunk);
    new DataView(indexOut.buffer).setUint32(32, 2);
    expect(decodeRecordHeader(indexOut).header.chunk).toMatchObject({ index: 2, count: 2 });
    const multi = Uint8Array.from(chunk);
    new DataView(multi.buffer).setUint32(20, 2);
    expect(codeOf(() => decodeRecordHeader(multi))).toBe('MALFORMED_FRAME');
  });

  it('refuses to encode what it would refuse to decode', () => {
    const base = { sessionId: new Uint8Array(8), firstSeq: 0, count: 1 };
    expect(codeOf(() => encode({ ...base, type: FrameType.Data, count: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encode({ ...base, type: FrameType.Data, sessionId: new Uint8Array(4) }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encode({ ...base, type: FrameType.Data, firstSeq: 2 ** 53 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encode({ ...base, type: FrameType.Chunk }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encode({ ...base, type: FrameType.Chunk, chunk: { messageId: 0, index: 3, count: 3, totalLength: 1 } }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encode({ ...base, type: FrameType.Data, chunk: { messageId: 0, index: 0, count: 1, totalLength: 1 } }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => encodeRecordHeader({ ...base, type: FrameType.Data }, new Uint8Array(10)))).toBe('INVALID_ARGUMENT');
  });
});
