/**
 * Builds sealed records with arbitrary header fields under a client's real keys, so tests can
 * send well-authenticated but ill-formed chunk sequences. Sequence numbers count from 0, so use
 * it instead of (not alongside) the client's SecureSession.
 */
import { createAead, wire } from '../../src/index.js';

export class RecordForger {
  private seq = 0;
  private readonly aead;

  constructor(private readonly keys: { sendKey: Buffer; sendIv: Buffer; sessionId: Buffer }) {
    this.aead = createAead(keys.sendKey);
  }

  private nonce(seq: number): Buffer {
    const n = Buffer.from(this.keys.sendIv);
    const s = Buffer.alloc(12);
    s.writeBigUInt64BE(BigInt(seq), 4);
    for (let i = 0; i < 12; i++) n[i]! ^= s[i]!;
    return n;
  }

  private record(type: wire.RecordType, plain: Uint8Array, chunk?: wire.ChunkFields): Buffer {
    // Written by hand (PROTOCOL.md §2): the library's encoder refuses the bad fields we forge.
    const header = Buffer.alloc(wire.recordHeaderLength(type));
    header[0] = 0x11;
    header[1] = type;
    header[2] = chunk ? 0x01 : 0;
    this.keys.sessionId.copy(header, 4);
    header.writeBigUInt64BE(BigInt(this.seq), 12);
    header.writeUInt32BE(1, 20);
    if (chunk) {
      header.writeBigUInt64BE(BigInt(chunk.messageId), 24);
      header.writeUInt32BE(chunk.index, 32);
      header.writeUInt32BE(chunk.count, 36);
      header.writeBigUInt64BE(BigInt(chunk.totalLength), 40);
    }
    const sealed = this.aead.seal(this.nonce(this.seq), header, plain);
    this.seq++;
    return wire.encodeFrame(Buffer.concat([header, sealed]));
  }

  /** A data record with one message. */
  message(type: number, payload: Uint8Array): Buffer {
    const run = Buffer.alloc(5 + payload.length);
    run[0] = type;
    run.writeUInt32BE(payload.length, 1);
    run.set(payload, 5);
    return this.record(wire.FrameType.Data, run);
  }

  /** A chunk record whose plaintext is exactly `plain` (chunk 0 must start with the type byte). */
  chunk(fields: wire.ChunkFields, plain: Uint8Array): Buffer {
    return this.record(wire.FrameType.Chunk, plain, fields);
  }
}
