/**
 * The queue's two messages inside a sealed record (docs/QUEUE.md "Wire format"): `queued`
 * carries one outbox entry, `queue_ack` acknowledges ids or reports a gap. Decoders take
 * hostile bytes: every length is checked first and any violation is a PeerError
 * MALFORMED_FRAME that drops only that message.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { ByteReader } from '../wire/reader.js';
import { writeU64 } from '../wire/u64.js';
import { EPOCH_BYTES, MESSAGE_ID_BYTES } from './store.js';

export const QUEUE_WIRE_VERSION = 1;
/** version, id, epoch, pos, prev, ttl seconds, type. */
export const ENVELOPE_HEADER_BYTES = 1 + MESSAGE_ID_BYTES + EPOCH_BYTES + 8 + 8 + 4 + 1;
/** Ids per ack message: 4 + 16 × 4,000 bytes stays inside one 64 KiB record. */
export const MAX_ACK_IDS = 4000;

export const AckKind = {
  /** The application handled these ids (or had before): remove them. */
  Acked: 0,
  /** A message before these is missing: resend from the oldest pending entry. */
  Gap: 1,
} as const;
export type AckKind = (typeof AckKind)[keyof typeof AckKind];

export interface Envelope {
  id: Uint8Array;
  epoch: Uint8Array;
  pos: number;
  prev: number;
  /** Remaining time to live, whole seconds, ≥ 1. */
  ttlSeconds: number;
  type: number;
  payload: Uint8Array;
}

export function encodeEnvelope(e: Envelope): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + e.payload.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = QUEUE_WIRE_VERSION;
  out.set(e.id, 1);
  out.set(e.epoch, 17);
  writeU64(view, 25, e.pos, 'position');
  writeU64(view, 33, e.prev, 'prev');
  view.setUint32(41, e.ttlSeconds);
  out[45] = e.type;
  out.set(e.payload, ENVELOPE_HEADER_BYTES);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const r = new ByteReader(bytes, 'queued message');
  if (r.u8() !== QUEUE_WIRE_VERSION) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'queued message: unknown version');
  const id = r.bytesView(MESSAGE_ID_BYTES);
  const epoch = r.bytesView(EPOCH_BYTES);
  const pos = r.u64();
  const prev = r.u64();
  const ttl = r.bytesView(4);
  const ttlSeconds = ((ttl[0]! << 24) >>> 0) + (ttl[1]! << 16) + (ttl[2]! << 8) + ttl[3]!;
  const type = r.u8();
  if (pos === 0 || prev >= pos) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'queued message: position 0 or prev not below it');
  if (ttlSeconds === 0) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'queued message: ttl 0');
  return { id, epoch, pos, prev, ttlSeconds, type, payload: r.bytesView(r.remaining) };
}

export function encodeAck(kind: AckKind, ids: Uint8Array[]): Buffer {
  if (ids.length === 0 || ids.length > MAX_ACK_IDS) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `ack of ${ids.length} ids`);
  const out = Buffer.allocUnsafe(4 + MESSAGE_ID_BYTES * ids.length);
  out[0] = QUEUE_WIRE_VERSION;
  out[1] = kind;
  out.writeUInt16BE(ids.length, 2);
  ids.forEach((id, i) => out.set(id, 4 + i * MESSAGE_ID_BYTES));
  return out;
}

export function decodeAck(bytes: Uint8Array): { kind: AckKind; ids: Uint8Array[] } {
  const r = new ByteReader(bytes, 'queue ack');
  if (r.u8() !== QUEUE_WIRE_VERSION) throw new PeerError(ErrorCode.MALFORMED_FRAME, 'queue ack: unknown version');
  const kind = r.u8();
  if (kind !== AckKind.Acked && kind !== AckKind.Gap) throw new PeerError(ErrorCode.MALFORMED_FRAME, `queue ack: unknown kind ${kind}`);
  const n = r.u16();
  if (n === 0 || n > MAX_ACK_IDS || r.remaining !== n * MESSAGE_ID_BYTES) {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `queue ack: ${n} ids in ${r.remaining} bytes`);
  }
  const ids: Uint8Array[] = [];
  for (let i = 0; i < n; i++) ids.push(r.bytesView(MESSAGE_ID_BYTES));
  return { kind, ids };
}
