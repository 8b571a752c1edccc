/**
 * Encoders and decoders of the relay control messages (docs/PROTOCOL.md §10). Sans-I/O: bytes
 * in, values out. Every decoder checks every length first and throws PeerError MALFORMED_FRAME
 * (wrong version, type, size or trailing bytes), so a hostile body ends only its connection.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { ByteReader, ByteWriter } from '../wire/reader.js';
import { writeU64 } from '../wire/u64.js';
import {
  MAILBOX_BATCH, MAX_ENVELOPE_BYTES, CHALLENGE_BYTES, KEY_BYTES, MAX_HOPS, MAX_RELAY_ADDRESS_BYTES, RELAY_VERSION, RESERVE_CONTEXT, RelayType,
  SIGNATURE_BYTES, TOKEN_BYTES, VOUCHER_CONTEXT, FETCH_CONTEXT,
} from './constants.js';

export interface Hello { relayKey: Uint8Array; challenge: Uint8Array }
export interface Reserve { key: Uint8Array; ttlS: number; signature: Uint8Array }
export interface ReserveOk { expiresAt: number; voucher: Uint8Array; nextChallenge: Uint8Array }
export interface CircuitConnect {
  target: Uint8Array;
  /** Relays this circuit may still pass through, this one included. */
  hopBudget: number;
  /** Keys of the relays the circuit already passed (loop detection). */
  visited: Uint8Array[];
  /** Addresses of the relays after this one, in order (empty: the target reserved here). */
  next: string[];
}
export interface Status { code: number; hop: number }
export interface MailboxPut { id: Uint8Array; expiresAt: number; envelope: Uint8Array }
export interface MailboxFetch { key: Uint8Array; signature: Uint8Array }

export type ControlMessage =
  | ({ type: typeof RelayType.HELLO } & Hello)
  | ({ type: typeof RelayType.RESERVE } & Reserve)
  | ({ type: typeof RelayType.RESERVE_OK } & ReserveOk)
  | { type: typeof RelayType.CIRCUIT_INCOMING; token: Uint8Array }
  | { type: typeof RelayType.CIRCUIT_ACCEPT; token: Uint8Array }
  | ({ type: typeof RelayType.CIRCUIT_CONNECT } & CircuitConnect)
  | ({ type: typeof RelayType.STATUS } & Status)
  | { type: typeof RelayType.MAILBOX_OPEN; record: Uint8Array }
  | ({ type: typeof RelayType.MAILBOX_PUT } & MailboxPut)
  | { type: typeof RelayType.MAILBOX_STORED; id: Uint8Array; code: number }
  | ({ type: typeof RelayType.MAILBOX_FETCH } & MailboxFetch)
  | ({ type: typeof RelayType.MAILBOX_ITEM } & MailboxPut)
  | { type: typeof RelayType.MAILBOX_DONE; ids: Uint8Array[] };

/** length prefix ‖ 0x11 ‖ type ‖ fields. */
function frame(type: RelayType, ...fields: Uint8Array[]): Buffer {
  const body = Buffer.concat([Uint8Array.of(RELAY_VERSION, type), ...fields]);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

const u8 = (v: number): Uint8Array => Uint8Array.of(v & 0xff);
const u32 = (v: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};
const u64 = (v: number): Uint8Array => {
  const b = new Uint8Array(8);
  writeU64(new DataView(b.buffer), 0, v, 'expires_at');
  return b;
};

export const encodeHello = (m: Hello): Buffer => frame(RelayType.HELLO, m.relayKey, m.challenge);
export const encodeReserve = (m: Reserve): Buffer => frame(RelayType.RESERVE, m.key, u32(m.ttlS), m.signature);
export const encodeReserveOk = (m: ReserveOk): Buffer => frame(RelayType.RESERVE_OK, u64(m.expiresAt), m.voucher, m.nextChallenge);
export const encodeIncoming = (token: Uint8Array): Buffer => frame(RelayType.CIRCUIT_INCOMING, token);
export const encodeAccept = (token: Uint8Array): Buffer => frame(RelayType.CIRCUIT_ACCEPT, token);
export const encodeStatus = (m: Status): Buffer => frame(RelayType.STATUS, u8(m.code), u8(Math.min(255, m.hop)));

export const encodeMailboxOpen = (record: Uint8Array): Buffer => frame(RelayType.MAILBOX_OPEN, record);
export const encodeMailboxPut = (m: MailboxPut): Buffer => frame(RelayType.MAILBOX_PUT, m.id, u64(m.expiresAt), m.envelope);
export const encodeMailboxItem = (m: MailboxPut): Buffer => frame(RelayType.MAILBOX_ITEM, m.id, u64(m.expiresAt), m.envelope);
export const encodeMailboxStored = (id: Uint8Array, code: number): Buffer => frame(RelayType.MAILBOX_STORED, id, u8(code));
export const encodeMailboxFetch = (m: MailboxFetch): Buffer => frame(RelayType.MAILBOX_FETCH, m.key, m.signature);
export const encodeMailboxDone = (ids: Uint8Array[]): Buffer => frame(RelayType.MAILBOX_DONE, u8(ids.length), ...ids);

export function encodeConnect(m: CircuitConnect): Buffer {
  if (m.visited.length > MAX_HOPS || m.next.length > MAX_HOPS - 1) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `a circuit has at most ${MAX_HOPS} relays`);
  const w = new ByteWriter().raw(m.target).u8(m.hopBudget).u8(m.visited.length);
  for (const k of m.visited) w.raw(k);
  w.u8(m.next.length);
  for (const a of m.next) w.shortString(a, MAX_RELAY_ADDRESS_BYTES);
  return frame(RelayType.CIRCUIT_CONNECT, w.finish());
}

/** The bytes B signs to reserve: context ‖ relay key ‖ challenge ‖ ttl_s (u32). */
export function reserveSigned(relayKey: Uint8Array, challenge: Uint8Array, ttlS: number): Buffer {
  return Buffer.concat([RESERVE_CONTEXT, relayKey, challenge, u32(ttlS)]);
}

/** The bytes a recipient signs to drain its mailbox: context ‖ relay key ‖ challenge. */
export function fetchSigned(relayKey: Uint8Array, challenge: Uint8Array): Buffer {
  return Buffer.concat([FETCH_CONTEXT, relayKey, challenge]);
}

/** The bytes the relay signs as its voucher: context ‖ relay key ‖ B's key ‖ expires_at (u64 ms). */
export function voucherSigned(relayKey: Uint8Array, key: Uint8Array, expiresAt: number): Buffer {
  return Buffer.concat([VOUCHER_CONTEXT, relayKey, key, u64(expiresAt)]);
}

/** Decodes one control body (without its length prefix). */
export function decodeControl(body: Uint8Array): ControlMessage {
  const r = new ByteReader(body, 'relay control message');
  if (r.u8() !== RELAY_VERSION) r.fail('version is not 0x11');
  const type = r.u8();
  const copy = (n: number): Uint8Array => new Uint8Array(r.bytesView(n));
  let m: ControlMessage;
  switch (type) {
    case RelayType.HELLO:
      m = { type, relayKey: copy(KEY_BYTES), challenge: copy(CHALLENGE_BYTES) };
      break;
    case RelayType.RESERVE: {
      const key = copy(KEY_BYTES);
      const ttlS = r.u16() * 0x10000 + r.u16();
      m = { type, key, ttlS, signature: copy(SIGNATURE_BYTES) };
      break;
    }
    case RelayType.RESERVE_OK:
      m = { type, expiresAt: r.u64(), voucher: copy(SIGNATURE_BYTES), nextChallenge: copy(CHALLENGE_BYTES) };
      break;
    case RelayType.CIRCUIT_INCOMING:
    case RelayType.CIRCUIT_ACCEPT:
      m = { type, token: copy(TOKEN_BYTES) };
      break;
    case RelayType.CIRCUIT_CONNECT: {
      const target = copy(KEY_BYTES);
      const hopBudget = r.u8();
      const nVisited = r.u8();
      if (nVisited > MAX_HOPS) r.fail(`${nVisited} visited relays (at most ${MAX_HOPS})`);
      const visited: Uint8Array[] = [];
      for (let i = 0; i < nVisited; i++) visited.push(copy(KEY_BYTES));
      const nNext = r.u8();
      if (nNext > MAX_HOPS - 1) r.fail(`${nNext} next relays (at most ${MAX_HOPS - 1})`);
      const next: string[] = [];
      for (let i = 0; i < nNext; i++) next.push(r.shortString(MAX_RELAY_ADDRESS_BYTES));
      m = { type, target, hopBudget, visited, next };
      break;
    }
    case RelayType.STATUS:
      m = { type, code: r.u8(), hop: r.u8() };
      break;
    case RelayType.MAILBOX_OPEN:
      if (r.remaining === 0) r.fail('empty record');
      m = { type, record: copy(r.remaining) };
      break;
    case RelayType.MAILBOX_PUT:
    case RelayType.MAILBOX_ITEM: {
      const id = copy(16);
      const expiresAt = r.u64();
      if (r.remaining < 48 || r.remaining > MAX_ENVELOPE_BYTES) r.fail(`envelope of ${r.remaining} bytes (48..${MAX_ENVELOPE_BYTES})`);
      m = { type, id, expiresAt, envelope: copy(r.remaining) };
      break;
    }
    case RelayType.MAILBOX_STORED:
      m = { type, id: copy(16), code: r.u8() };
      break;
    case RelayType.MAILBOX_FETCH:
      m = { type, key: copy(KEY_BYTES), signature: copy(SIGNATURE_BYTES) };
      break;
    case RelayType.MAILBOX_DONE: {
      const n = r.u8();
      if (n > MAILBOX_BATCH) r.fail(`${n} ids (at most ${MAILBOX_BATCH})`);
      const ids: Uint8Array[] = [];
      for (let i = 0; i < n; i++) ids.push(copy(16));
      m = { type, ids };
      break;
    }
    default:
      return r.fail(`unknown type 0x${type.toString(16)}`);
  }
  r.end();
  return m;
}
