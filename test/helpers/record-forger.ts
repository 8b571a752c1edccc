/**
 * Builds sealed records with arbitrary header fields under a client's real keys, so tests can
 * send well-authenticated but ill-formed chunk sequences. Sequence numbers count from 0, so use
 * it instead of (not alongside) the client's SecureSession.
 */
import { wire } from '../../src/index.js';
import { Direction, NONCE_BYTES } from '../../src/session/direction.js';

/** Header fields a forged record may carry (each defaults to what an honest sender writes). */
export interface ForgedFields {
  flags?: number;
  reserved?: number;
  sessionId?: Uint8Array;
  firstSeq?: number;
  count?: number;
  chunk?: wire.ChunkFields;
}

export class RecordForger {
  private seq = 0;
  /** The sending key and IV (copies: a key update wipes them), as the receiver derives them. */
  private readonly tx: Direction;

  constructor(private readonly keys: { sendKey: Buffer; sendIv: Buffer; sessionId: Buffer }) {
    this.tx = new Direction(Buffer.from(keys.sendKey), Buffer.from(keys.sendIv), 'aes-256-gcm');
  }

  /** The sequence number the next record takes by default. */
  get nextSeq(): number {
    return this.seq;
  }

  private nonce(seq: number): Buffer {
    const n = Buffer.alloc(NONCE_BYTES);
    this.tx.writeNonce(seq, n, 0);
    return n;
  }

  /**
   * Seals `plain` under one record header whose every field may be forged: type, flags,
   * reserved byte, session id, first sequence number (default: the next), count (default 1),
   * chunk fields. The next record's default sequence number follows this one's; after a
   * key_update record the next ones are sealed under the updated key (PROTOCOL.md §6).
   */
  record(type: wire.RecordType, plain: Uint8Array, fields: ForgedFields = {}): Buffer {
    // Written by hand (PROTOCOL.md §2): the library's encoder refuses the bad fields we forge.
    const chunk = fields.chunk;
    const seq = fields.firstSeq ?? this.seq;
    const header = Buffer.alloc(wire.recordHeaderLength(chunk ? wire.FrameType.Chunk : type));
    header[0] = 0x11;
    header[1] = type;
    header[2] = fields.flags ?? (chunk ? 0x01 : 0);
    header[3] = fields.reserved ?? 0;
    Buffer.from(fields.sessionId ?? this.keys.sessionId).copy(header, 4);
    header.writeBigUInt64BE(BigInt(seq), 12);
    header.writeUInt32BE(fields.count ?? 1, 20);
    if (chunk) {
      header.writeBigUInt64BE(BigInt(chunk.messageId), 24);
      header.writeUInt32BE(chunk.index, 32);
      header.writeUInt32BE(chunk.count, 36);
      header.writeBigUInt64BE(BigInt(chunk.totalLength), 40);
    }
    const sealed = this.tx.aead.seal(this.nonce(seq), header, plain);
    if (type === wire.FrameType.KeyUpdate) this.tx.update();
    this.seq = seq + Math.max(1, fields.count ?? 1);
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
    return this.record(wire.FrameType.Chunk, plain, { chunk: fields });
  }
}
