/**
 * The DHT's UDP datagrams (docs/DHT.md §2): a 39-byte header (version, type, flags, request id,
 * the sender's Ed25519 public key, whose SHA-256 is its node id) and a body per type.
 * Decoding goes through the bounds-checked ByteReader: anything that does not parse exactly is
 * MALFORMED_FRAME; a datagram over the size limit is FRAME_TOO_LARGE before it is parsed.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { ByteReader } from '../wire/reader.js';
import { addressLength } from './address.js';
import { ID_BYTES, MAX_AMPLIFICATION, MAX_DATAGRAM_BYTES, MAX_RECORD_BYTES, TOKEN_BYTES } from './constants.js';
import { NONCE_BYTES, SIGNATURE_BYTES } from './proof.js';

export const DHT_VERSION = 0xd1;
export const HEADER_BYTES = 39;

export const MSG = {
  PING: 0x01,
  FIND_NODE: 0x02,
  FIND_VALUE: 0x03,
  STORE: 0x04,
  PONG: 0x81,
  NODES: 0x82,
  VALUE: 0x83,
  STORED: 0x84,
  ERROR: 0xff,
} as const;
export type MsgType = (typeof MSG)[keyof typeof MSG];

/** Header flags. */
export const FLAG_READ_ONLY = 0x01; // the sender serves no requests: keep it out of routing tables
export const FLAG_WANT_TOKEN = 0x02; // FIND_NODE: answer with a store token
const KNOWN_FLAGS = FLAG_READ_ONLY | FLAG_WANT_TOKEN;

/** Error codes carried by ERROR (docs/DHT.md §2.9). */
export const WIRE_ERROR = {
  MALFORMED: 1,
  OVERSIZED: 2,
  SIGNATURE: 3,
  UNBOUND: 4,
  NOT_NEWER: 5,
  STALE: 6,
  FUTURE: 7,
  WRONG_KEY: 8,
  FULL: 9,
  ENTITY_FULL: 10,
  BAD_TOKEN: 11,
  RATE_LIMITED: 12,
  QUOTA: 13,
} as const;

/**
 * Contacts as carried on the wire: `count` entries back to back in `bytes` (each an id, then a
 * family byte, address and port). Kept as one view so a response costs no allocation per
 * contact; walk it with nextContact().
 */
export interface WireContacts {
  count: number;
  bytes: Uint8Array;
}

/** Offset of the contact after the one at `at` in a validated block. */
export function nextContact(block: Uint8Array, at: number): number {
  return at + ID_BYTES + addressLength(block[at + ID_BYTES]!);
}

interface Base {
  flags: number;
  tid: number;
  publicKey: Uint8Array;
}

export type Message = Base & (
  | { type: typeof MSG.PING; nonce: Uint8Array }
  | { type: typeof MSG.FIND_NODE; target: Uint8Array }
  | { type: typeof MSG.FIND_VALUE; key: Uint8Array }
  | { type: typeof MSG.STORE; token: Uint8Array; key: Uint8Array; record: Uint8Array }
  | { type: typeof MSG.PONG; observed: Uint8Array; signature: Uint8Array }
  | { type: typeof MSG.NODES; token: Uint8Array | null; contacts: WireContacts }
  | { type: typeof MSG.VALUE; records: Uint8Array[]; contacts: WireContacts }
  | { type: typeof MSG.STORED; status: number }
  | { type: typeof MSG.ERROR; code: number }
);

export function isRequest(type: number): boolean {
  return type < 0x80;
}

/** The request id of a datagram at least HEADER_BYTES long (answering without decoding it). */
export function tidOf(data: Uint8Array): number {
  return ((data[3]! << 24) | (data[4]! << 16) | (data[5]! << 8) | data[6]!) >>> 0;
}

/**
 * FIND_NODE and FIND_VALUE are padded with zero bytes to this size: an answer is at most
 * MAX_AMPLIFICATION × its request, and a full answer (MAX_DATAGRAM_BYTES) needs a request of
 * ⌈1232 / 3⌉ bytes. QUIC pads its Initial packets for the same reason.
 */
export const PADDED_FIND_BYTES = Math.ceil(MAX_DATAGRAM_BYTES / MAX_AMPLIFICATION);

function readAddr(r: ByteReader): Uint8Array {
  const family = r.u8();
  if (family !== 4 && family !== 6) r.fail(`address family ${family}`);
  // The view starts at the family byte, which the reader has just consumed.
  const rest = r.bytesView(addressLength(family) - 1);
  if (rest[rest.length - 2] === 0 && rest[rest.length - 1] === 0) r.fail('port 0');
  return new Uint8Array(rest.buffer, rest.byteOffset - 1, rest.length + 1);
}

function readContacts(r: ByteReader, data: Uint8Array): WireContacts {
  const count = r.u8();
  const start = r.offset;
  for (let i = 0; i < count; i++) {
    r.bytesView(ID_BYTES);
    const family = r.u8();
    if (family !== 4 && family !== 6) r.fail(`address family ${family}`);
    const rest = r.bytesView(addressLength(family) - 1);
    if (rest[rest.length - 2] === 0 && rest[rest.length - 1] === 0) r.fail('port 0');
  }
  return { count, bytes: data.subarray(start, r.offset) };
}

/** The rest of a FIND request: zero bytes only (padding, see PADDED_FIND_BYTES). */
function padding(r: ByteReader): void {
  const rest = r.bytesView(r.remaining);
  for (let i = 0; i < rest.length; i++) if (rest[i] !== 0) r.fail('non-zero padding');
}

export function decodeMessage(data: Uint8Array, maxBytes = MAX_DATAGRAM_BYTES): Message {
  if (data.length > maxBytes) throw new PeerError(ErrorCode.FRAME_TOO_LARGE, `DHT datagram of ${data.length} bytes exceeds ${maxBytes}`);
  const r = new ByteReader(data, 'DHT datagram');
  if (r.u8() !== DHT_VERSION) r.fail('unknown version');
  const type = r.u8();
  const flags = r.u8();
  if ((flags & ~KNOWN_FLAGS) !== 0) r.fail('unknown flags');
  const tid = r.u16() * 0x10000 + r.u16();
  const publicKey = r.bytesView(32);
  let m: Message;
  switch (type) {
    case MSG.PING: m = { type, flags, tid, publicKey, nonce: r.bytesView(NONCE_BYTES) }; break;
    case MSG.FIND_NODE: m = { type, flags, tid, publicKey, target: r.bytesView(ID_BYTES) }; padding(r); break;
    case MSG.FIND_VALUE: m = { type, flags, tid, publicKey, key: r.bytesView(ID_BYTES) }; padding(r); break;
    case MSG.STORE: {
      const token = r.bytesView(TOKEN_BYTES);
      const key = r.bytesView(ID_BYTES);
      const len = r.u16();
      if (len === 0 || len > MAX_RECORD_BYTES) r.fail(`record length ${len}`);
      m = { type, flags, tid, publicKey, token, key, record: r.bytesView(len) };
      break;
    }
    case MSG.PONG: m = { type, flags, tid, publicKey, observed: readAddr(r), signature: r.bytesView(SIGNATURE_BYTES) }; break;
    case MSG.NODES: {
      const tl = r.u8();
      if (tl !== 0 && tl !== TOKEN_BYTES) r.fail(`token length ${tl}`);
      const token = tl ? r.bytesView(tl) : null;
      m = { type, flags, tid, publicKey, token, contacts: readContacts(r, data) };
      break;
    }
    case MSG.VALUE: {
      const records: Uint8Array[] = [];
      for (let n = r.u8(), i = 0; i < n; i++) {
        const len = r.u16();
        if (len === 0 || len > MAX_RECORD_BYTES) r.fail(`record length ${len}`);
        records.push(r.bytesView(len));
      }
      m = { type, flags, tid, publicKey, records, contacts: readContacts(r, data) };
      break;
    }
    case MSG.STORED: {
      const status = r.u8();
      if (status > 1) r.fail(`store status ${status}`);
      m = { type, flags, tid, publicKey, status };
      break;
    }
    case MSG.ERROR: m = { type, flags, tid, publicKey, code: r.u8() }; break;
    default: return r.fail(`unknown message type 0x${type.toString(16)}`);
  }
  r.end();
  return m;
}

/**
 * Datagram buffers are carved from 64 KiB slabs: a datagram lives for one send, so a view on a
 * shared slab is all it needs, and a view costs far less than an array with its own memory.
 * (Buffer's pool would do the same, but Buffer's subarray() is much slower than Uint8Array's,
 * and decoding is made of subarrays.)
 */
const SLAB_BYTES = 65_536;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabAt = 0;

function allocDatagram(size: number): Uint8Array {
  if (size > SLAB_BYTES) return new Uint8Array(size);
  if (slabAt + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabAt = 0;
  }
  const out = new Uint8Array(slab, slabAt, size);
  slabAt += (size + 7) & ~7;
  return out;
}

/** Encoder: one exact-size buffer per datagram, header first. */
export class Encoder {
  readonly buf: Uint8Array;
  at = HEADER_BYTES;

  constructor(type: MsgType, flags: number, tid: number, publicKey: Uint8Array, bodyBytes: number) {
    // Not zeroed (a slab is reused only once full); done() checks that every byte was written.
    this.buf = allocDatagram(HEADER_BYTES + bodyBytes);
    const b = this.buf;
    b[0] = DHT_VERSION;
    b[1] = type;
    b[2] = flags;
    b[3] = tid >>> 24; b[4] = (tid >>> 16) & 0xff; b[5] = (tid >>> 8) & 0xff; b[6] = tid & 0xff;
    b.set(publicKey, 7);
  }

  u8(v: number): this {
    this.buf[this.at++] = v;
    return this;
  }

  u16(v: number): this {
    this.buf[this.at++] = v >>> 8;
    this.buf[this.at++] = v & 0xff;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.buf.set(v, this.at);
    this.at += v.length;
    return this;
  }

  done(): Uint8Array {
    if (this.at !== this.buf.length) throw new PeerError(ErrorCode.INVALID_STATE, `DHT encoder wrote ${this.at} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

/** A PING with its nonce (proof.ts): 55 bytes. */
export function encodePing(flags: number, tid: number, pk: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Encoder(MSG.PING, flags, tid, pk, NONCE_BYTES).bytes(nonce).done();
}

/** Bytes of a PING on the wire. */
export const PING_BYTES = HEADER_BYTES + NONCE_BYTES;

/** A FIND request, zero-padded to `size` bytes (at least header and target). */
export function encodeFind(
  type: typeof MSG.FIND_NODE | typeof MSG.FIND_VALUE, flags: number, tid: number, pk: Uint8Array, target: Uint8Array, size = PADDED_FIND_BYTES,
): Uint8Array {
  const e = new Encoder(type, flags, tid, pk, Math.max(ID_BYTES, size - HEADER_BYTES)).bytes(target);
  e.buf.fill(0, e.at);
  e.at = e.buf.length;
  return e.done();
}

export function encodeStore(flags: number, tid: number, pk: Uint8Array, token: Uint8Array, key: Uint8Array, record: Uint8Array): Uint8Array {
  if (record.length === 0 || record.length > MAX_RECORD_BYTES) throw new PeerError(ErrorCode.FRAME_TOO_LARGE, `record of ${record.length} bytes`);
  return new Encoder(MSG.STORE, flags, tid, pk, TOKEN_BYTES + ID_BYTES + 2 + record.length)
    .bytes(token).bytes(key).u16(record.length).bytes(record).done();
}

/** A PONG: the address the PING came from and the signature over the PING's nonce and it (proof.ts). */
export function encodePong(flags: number, tid: number, pk: Uint8Array, observed: Uint8Array, signature: Uint8Array): Uint8Array {
  return new Encoder(MSG.PONG, flags, tid, pk, observed.length + SIGNATURE_BYTES).bytes(observed).bytes(signature).done();
}

export function encodeStored(flags: number, tid: number, pk: Uint8Array, status: number): Uint8Array {
  return new Encoder(MSG.STORED, flags, tid, pk, 1).u8(status).done();
}

export function encodeError(flags: number, tid: number, pk: Uint8Array, code: number): Uint8Array {
  return new Encoder(MSG.ERROR, flags, tid, pk, 1).u8(code).done();
}

/**
 * NODES (token, contacts) or VALUE (records, contacts). Contacts arrive pre-encoded (id then
 * wire address, back to back) with their count, so the routing table can copy them in place.
 */
export function encodeNodes(flags: number, tid: number, pk: Uint8Array, token: Uint8Array | null, count: number, contacts: Uint8Array): Uint8Array {
  return new Encoder(MSG.NODES, flags, tid, pk, 1 + (token ? token.length : 0) + 1 + contacts.length)
    .u8(token ? token.length : 0).bytes(token ?? new Uint8Array(0)).u8(count).bytes(contacts).done();
}

export function encodeValue(flags: number, tid: number, pk: Uint8Array, records: Uint8Array[], count: number, contacts: Uint8Array): Uint8Array {
  let size = 1 + 1 + contacts.length;
  for (const r of records) size += 2 + r.length;
  const e = new Encoder(MSG.VALUE, flags, tid, pk, size).u8(records.length);
  for (const r of records) e.u16(r.length).bytes(r);
  return e.u8(count).bytes(contacts).done();
}
