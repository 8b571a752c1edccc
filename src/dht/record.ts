/**
 * Signed entity records (spec "DHT Key Structure"): key = SHA-256(entity_id + ":" +
 * capability_hash), value = {entity_id, addresses[], public_key, capabilities[], last_seen,
 * ttl}, in one canonical binary encoding (docs/DHT.md §4) signed with the entity's Ed25519 key.
 *
 * capability_hash = lower-case hex of SHA-256(UTF-8 capability name). The same record is
 * stored under its presence key (capability name "", so lookup(entityId) needs no capability),
 * under one key per capability, and under each capability's provider key
 * SHA-256("cap:" + capability_hash), which gathers every entity offering it.
 */
import { Identity, sha256 } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { ByteReader, ByteWriter } from '../wire/reader.js';
import { MAX_CAPABILITIES, MAX_RECORD_BYTES } from './constants.js';

export const RECORD_VERSION = 1;
const FLAG_ROTATION = 1;
/** The entity has gone (graceful close): the record replaces its live versions, lists no address. */
const FLAG_TOMBSTONE = 2;
/** The entity lists relays it holds reservations on (docs/RELAY.md): a relay list follows the capabilities. */
const FLAG_RELAYS = 4;
/** Relays a record may list (a sender tries them in turn). */
export const MAX_RECORD_RELAYS = 3;
/** The entity names a mailbox relay and its rotating X25519 mailbox key (docs/RELAY.md "Mailboxes"). */
const FLAG_MAILBOX = 8;
export const MAX_ENTITY_ID_BYTES = 128;
export const MAX_RECORD_ADDRESSES = 8;
export const MAX_RECORD_ADDRESS_BYTES = 128;
export const MAX_CAPABILITY_BYTES = 64;
/** Domain separation: a record signature can never be mistaken for any other signed message. */
const RECORD_CONTEXT = Buffer.from('peercomm dht record v1\0', 'utf8');
const ROTATION_CONTEXT = Buffer.from('peercomm dht key rotation v1\0', 'utf8');

export interface RecordFields {
  entityId: string;
  addresses: string[];
  capabilities: string[];
  /** Unix time in ms; a store keeps only strictly newer versions. */
  lastSeen: number;
  /** Seconds after last_seen at which the record is stale. */
  ttl: number;
  /** A signed "gone": replaces the live versions at every key; addresses must be empty. */
  tombstone?: boolean;
  /** Relays (relay port "host:port") holding a reservation for this entity, until `expiresAt` (unix ms). */
  relays?: RelayEntry[];
  mailbox?: MailboxEntry | null;
}

/** Where to leave sealed messages while the entity is offline, and the key to seal them to (until `expiresAt`). */
export interface MailboxEntry {
  address: string;
  /** The mailbox relay's Ed25519 key (it stores only for records that name it). */
  relayKey: Uint8Array;
  /** X25519 key envelopes are sealed to. */
  key: Uint8Array;
  expiresAt: number;
}

export interface RelayEntry {
  address: string;
  expiresAt: number;
}

export interface DhtRecord extends RecordFields {
  tombstone: boolean;
  relays: RelayEntry[];
  mailbox: MailboxEntry | null;
  publicKey: Uint8Array;
  signature: Uint8Array;
  /** A key change: the previous key and its signature over the same body. */
  rotation: { publicKey: Uint8Array; signature: Uint8Array } | null;
  /** The canonical encoding (what is stored and sent). */
  bytes: Uint8Array;
}

/** What signs a record: an Identity fits. */
export interface RecordSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

export function capabilityHash(name: string): string {
  if (typeof name !== 'string') throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'capability must be a string');
  return sha256(utf8(name)).toString('hex');
}

/** SHA-256(entity_id + ":" + capability_hash); no capability = the presence key (name ""). */
export function recordKey(entityId: string, capability = ''): Buffer {
  checkEntityId(entityId);
  return sha256(utf8(`${entityId}:${capabilityHash(capability)}`));
}

/** SHA-256("cap:" + capability_hash): the entities that offer `capability`. */
export function providerKey(capability: string): Buffer {
  checkCapability(capability);
  return sha256(utf8(`cap:${capabilityHash(capability)}`));
}

function checkEntityId(id: string): void {
  if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > MAX_ENTITY_ID_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `entity id must be 1..${MAX_ENTITY_ID_BYTES} UTF-8 bytes`);
  }
}

function checkCapability(c: string): void {
  if (typeof c !== 'string' || c.length === 0 || Buffer.byteLength(c) > MAX_CAPABILITY_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `capability must be 1..${MAX_CAPABILITY_BYTES} UTF-8 bytes`);
  }
}

/** Capabilities in canonical order: sorted by UTF-8 bytes, duplicates removed. */
export function canonicalCapabilities(caps: readonly string[]): string[] {
  if (!Array.isArray(caps)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'capabilities must be an array');
  caps.forEach(checkCapability);
  const sorted = [...new Set(caps)].sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
  if (sorted.length > MAX_CAPABILITIES) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_CAPABILITIES} capabilities`);
  return sorted;
}

function encodeBody(f: RecordFields, publicKey: Uint8Array, oldKey: Uint8Array | null): Buffer {
  checkEntityId(f.entityId);
  if (!Array.isArray(f.addresses) || f.addresses.length > MAX_RECORD_ADDRESSES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_RECORD_ADDRESSES} addresses`);
  }
  if (!Number.isSafeInteger(f.lastSeen) || f.lastSeen < 0) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'lastSeen must be unix ms');
  if (!Number.isInteger(f.ttl) || f.ttl < 1 || f.ttl > 0xffffffff) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'ttl must be 1..2^32-1 s');
  if (f.tombstone && f.addresses.length > 0) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'a tombstone lists no address');
  const caps = canonicalCapabilities(f.capabilities);
  // A tombstone lists no relay (the entity is gone), whatever the live record listed.
  const relays = f.tombstone ? [] : f.relays ?? [];
  if (!Array.isArray(relays) || relays.length > MAX_RECORD_RELAYS) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_RECORD_RELAYS} relays`);
  const mailbox = f.tombstone ? null : f.mailbox ?? null;
  const flags = (oldKey ? FLAG_ROTATION : 0) | (f.tombstone ? FLAG_TOMBSTONE : 0) | (relays.length > 0 ? FLAG_RELAYS : 0) | (mailbox ? FLAG_MAILBOX : 0);
  const w = new ByteWriter().u8(RECORD_VERSION).u8(flags).shortString(f.entityId, MAX_ENTITY_ID_BYTES);
  w.raw(publicKey).u64(f.lastSeen, 'lastSeen').u16(Math.floor(f.ttl / 0x10000)).u16(f.ttl & 0xffff);
  w.u8(f.addresses.length);
  for (const a of f.addresses) {
    if (typeof a !== 'string') throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'addresses must be strings');
    w.shortString(a, MAX_RECORD_ADDRESS_BYTES);
  }
  w.u8(caps.length);
  for (const c of caps) w.shortString(c, MAX_CAPABILITY_BYTES);
  if (relays.length > 0) {
    w.u8(relays.length);
    for (const r of relays) w.shortString(r.address, MAX_RECORD_ADDRESS_BYTES).u64(r.expiresAt, 'relay expiresAt');
  }
  if (mailbox) {
    if (mailbox.relayKey?.length !== 32 || mailbox.key?.length !== 32) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'mailbox keys must be 32 bytes');
    w.shortString(mailbox.address, MAX_RECORD_ADDRESS_BYTES).raw(mailbox.relayKey).raw(mailbox.key).u64(mailbox.expiresAt, 'mailbox expiresAt');
  }
  if (oldKey) w.raw(oldKey);
  return w.finish();
}

/**
 * Builds and signs a record. `previous` (the key the network holds for this entity) also signs
 * it when the key changes, so stores accept the new key.
 */
export function signRecord(fields: RecordFields, signer: RecordSigner, previous?: RecordSigner): DhtRecord {
  if (!signer || !(signer.publicKey instanceof Uint8Array) || signer.publicKey.length !== 32) {
    throw new PeerError(ErrorCode.INVALID_KEY, 'signer must have a 32-byte Ed25519 public key');
  }
  const body = encodeBody(fields, signer.publicKey, previous ? previous.publicKey : null);
  const signature = signer.sign(Buffer.concat([RECORD_CONTEXT, body]));
  const parts = [body, signature];
  if (previous) parts.push(previous.sign(Buffer.concat([ROTATION_CONTEXT, body])));
  const bytes = new Uint8Array(Buffer.concat(parts));
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new PeerError(ErrorCode.FRAME_TOO_LARGE, `record is ${bytes.length} bytes, the limit is ${MAX_RECORD_BYTES}`);
  }
  return decodeRecord(bytes, bytes.length);
}

/**
 * Parses a record (no signature check): MALFORMED_FRAME if it does not parse or is not
 * canonical, FRAME_TOO_LARGE above `maxBytes`. The result keeps a copy of the bytes.
 */
export function decodeRecord(input: Uint8Array, maxBytes = MAX_RECORD_BYTES): DhtRecord {
  if (!(input instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'record must be bytes');
  if (input.length > maxBytes) throw new PeerError(ErrorCode.FRAME_TOO_LARGE, `record of ${input.length} bytes exceeds ${maxBytes}`);
  const bytes = new Uint8Array(input);
  const r = new ByteReader(bytes, 'DHT record');
  if (r.u8() !== RECORD_VERSION) r.fail('unknown record version');
  const flags = r.u8();
  if ((flags & ~(FLAG_ROTATION | FLAG_TOMBSTONE | FLAG_RELAYS | FLAG_MAILBOX)) !== 0) r.fail('unknown record flags');
  const entityId = r.shortString(MAX_ENTITY_ID_BYTES);
  const publicKey = r.bytesView(32);
  const lastSeen = r.u64();
  const ttl = r.u16() * 0x10000 + r.u16();
  if (ttl === 0) r.fail('ttl 0');
  const addresses: string[] = [];
  for (let n = r.u8(), i = 0; i < n; i++) addresses.push(r.shortString(MAX_RECORD_ADDRESS_BYTES));
  if (addresses.length > MAX_RECORD_ADDRESSES) r.fail('too many addresses');
  const tombstone = (flags & FLAG_TOMBSTONE) !== 0;
  if (tombstone && addresses.length > 0) r.fail('a tombstone lists an address');
  const capabilities: string[] = [];
  let prev: Buffer | null = null;
  for (let n = r.u8(), i = 0; i < n; i++) {
    const c = r.shortString(MAX_CAPABILITY_BYTES);
    const cb = utf8(c);
    if (prev && Buffer.compare(prev, cb) >= 0) r.fail('capabilities not sorted and unique');
    prev = cb;
    capabilities.push(c);
  }
  if (capabilities.length > MAX_CAPABILITIES) r.fail('too many capabilities');
  const relays: RelayEntry[] = [];
  if (flags & FLAG_RELAYS) {
    const n = r.u8();
    if (n === 0 || n > MAX_RECORD_RELAYS || tombstone) r.fail('relay list empty, too long, or in a tombstone');
    for (let i = 0; i < n; i++) relays.push({ address: r.shortString(MAX_RECORD_ADDRESS_BYTES), expiresAt: r.u64() });
  }
  let mailbox: MailboxEntry | null = null;
  if (flags & FLAG_MAILBOX) {
    if (tombstone) r.fail('a tombstone names a mailbox');
    mailbox = { address: r.shortString(MAX_RECORD_ADDRESS_BYTES), relayKey: r.bytesView(32), key: r.bytesView(32), expiresAt: r.u64() };
  }
  const oldKey = flags & FLAG_ROTATION ? r.bytesView(32) : null;
  const signature = r.bytesView(64);
  const oldSignature = oldKey ? r.bytesView(64) : null;
  r.end();
  return {
    entityId, addresses, capabilities, lastSeen, ttl, tombstone, relays, mailbox, publicKey, signature, bytes,
    rotation: oldKey && oldSignature ? { publicKey: oldKey, signature: oldSignature } : null,
  };
}

/** The signed part of the encoding: everything before the signature. */
function body(rec: DhtRecord): Uint8Array {
  return rec.bytes.subarray(0, rec.bytes.length - (rec.rotation ? 128 : 64));
}

/** Checks the entity's signature (and the old key's, for a rotation). */
export function hasValidSignatures(rec: DhtRecord): boolean {
  const b = body(rec);
  if (!Identity.isValidSignature(rec.publicKey, Buffer.concat([RECORD_CONTEXT, b]), rec.signature)) return false;
  return !rec.rotation || Identity.isValidSignature(rec.rotation.publicKey, Buffer.concat([ROTATION_CONTEXT, b]), rec.rotation.signature);
}

/** Throws INVALID_SIGNATURE unless hasValidSignatures(). */
export function verifyRecord(rec: DhtRecord): void {
  if (!hasValidSignatures(rec)) throw new PeerError(ErrorCode.INVALID_SIGNATURE, `record of ${rec.entityId}: signature does not verify`);
}

export type KeyKind = 'presence' | 'capability' | 'provider';

/** Every key a record is stored under, with its kind. */
export function recordKeys(rec: RecordFields): { key: Buffer; kind: KeyKind; capability: string }[] {
  const out: { key: Buffer; kind: KeyKind; capability: string }[] = [{ key: recordKey(rec.entityId), kind: 'presence', capability: '' }];
  for (const c of rec.capabilities) out.push({ key: recordKey(rec.entityId, c), kind: 'capability', capability: c });
  for (const c of rec.capabilities) out.push({ key: providerKey(c), kind: 'provider', capability: c });
  return out;
}

/** The kind of `key` for this record, or null if the record may not be stored under it. */
export function keyKindFor(rec: RecordFields, key: Uint8Array): KeyKind | null {
  for (const k of recordKeys(rec)) if (Buffer.compare(k.key, key) === 0) return k.kind;
  return null;
}

/** When the record goes stale by its own ttl (ms). */
export function staleAt(rec: RecordFields): number {
  return rec.lastSeen + rec.ttl * 1000;
}
