/**
 * The v1.0 envelope (docs/V1_COMPAT.md): parsing with a check of every field, the exact signed
 * bytes, verification, and building signed bodies. Format and signature only: the clock and the
 * nonce cache live in replay.ts, used by the endpoint.
 */
import { Identity, randomBytes } from '../../crypto/index.js';
import { ErrorCode, PeerError } from '../../errors.js';
import { canonicalJson } from './canonical.js';
import { JsonNumber, parseJson, type JsonInput, type JsonLimits, type JsonObject, type JsonValue } from './json.js';
import { quotePython } from './python.js';

/** "1.0", and "0.3" which v1.0 peers also accept (signed the same way). */
export const V1_VERSIONS = ['1.0', '0.3'] as const;
export type V1Version = (typeof V1_VERSIONS)[number];

/** What the signature covers; recipient_id, session_id and sequence_num are unauthenticated. */
export const SIGNED_FIELDS = ['version', 'msg_type', 'sender_id', 'payload', 'timestamp', 'nonce'] as const;

/** 16 random bytes as 32 lowercase hex chars. */
export const NONCE_BYTES = 16;
const NONCE_RE = /^[0-9a-f]{32}$/;
/** Ed25519 signature: standard base64 with padding (88 chars) or 128 hex chars. */
const SIGNATURE_B64_RE = /^[A-Za-z0-9+/]{86}==$/;
const SIGNATURE_HEX_RE = /^[0-9a-fA-F]{128}$/;
/** Any RFC 4122 textual UUID (v1.0 peers send v4, lowercase; the field is not signed). */
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/**
 * Python isoformat in UTC as v1.0 peers write it, with `Z` or `+00:00`, with or without a
 * fraction (6 digits from Python; 1–6 accepted, e.g. milliseconds from a JS sender).
 */
const TIMESTAMP_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$/;
/** Bound on msg_type, sender_id and recipient_id (free-form strings, used as map keys). */
export const MAX_ID_LENGTH = 256;

export interface V1Envelope {
  version: V1Version;
  msgType: string;
  senderId: string;
  /** Not signed. */
  recipientId: string;
  /** Not signed; null when null or absent. */
  sessionId: string | null;
  /** Not signed; null when null or absent. */
  sequenceNum: number | null;
  /** As sent (it is signed in this form). */
  timestamp: string;
  /** The timestamp in ms since the epoch (microseconds truncated). */
  timestampMs: number;
  nonce: string;
  /** Lossless: numbers keep their text, objects are Maps. */
  payload: JsonObject;
  /** 64 bytes, from base64 or hex. */
  signature: Buffer;
  /** The whole parsed body, unknown extra fields included (unauthenticated). */
  body: JsonObject;
}

/** What sign() needs; the rest (version, timestamp, nonce) defaults as a v1.0 peer writes it. */
export interface V1Fields {
  msgType: string;
  senderId: string;
  recipientId: string;
  /** A JSON object: plain object or Map; see canonicalJson for how numbers are written. */
  payload: { [key: string]: JsonInput } | Map<string, JsonInput>;
  sessionId?: string | null;
  sequenceNum?: number | null;
  version?: V1Version;
  /** A v1.0 timestamp string, or a time (ms or Date) written as Python isoformat; default now. */
  timestamp?: string | number | Date;
  /** 32 lowercase hex chars; default 16 fresh random bytes. */
  nonce?: string;
}

export interface SignOptions {
  /** Signature encoding in the body: base64 (default, what v1.0 peers send) or hex. */
  signatureEncoding?: 'base64' | 'hex';
}

function malformed(message: string): PeerError {
  return new PeerError(ErrorCode.MALFORMED_FRAME, `v1.0 envelope: ${message}`);
}

function idString(v: JsonValue | undefined, field: string, allowEmpty: boolean, fail: (m: string) => PeerError): string {
  if (typeof v !== 'string') throw fail(`${field} must be a string`);
  if ((!allowEmpty && v.length === 0) || v.length > MAX_ID_LENGTH) throw fail(`${field} must be ${allowEmpty ? 0 : 1}..${MAX_ID_LENGTH} chars`);
  return v;
}

/** Milliseconds since the epoch of a v1.0 timestamp, or undefined if it is not one. */
export function parseTimestamp(s: string): number | undefined {
  const m = TIMESTAMP_RE.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d); // Date.UTC would map years 0–99 to 1900–1999
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined; // Feb 30 and the like
  const micros = Number((m[7] ?? '').padEnd(6, '0'));
  return date.getTime() + ((h * 60 + mi) * 60 + sec) * 1000 + Math.floor(micros / 1000);
}

/** Python's `datetime.now(timezone.utc).isoformat()` with microseconds: `…T12:34:56.123456+00:00`. */
export function formatTimestamp(time: number | Date): string {
  const ms = typeof time === 'number' ? time : time.getTime();
  // Python datetime: years 1–9999.
  if (!(ms >= -62_135_596_800_000 && ms < 253_402_300_800_000)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'timestamp out of range');
  const micros = Math.floor(ms * 1000);
  const seconds = Math.floor(micros / 1e6);
  const date = new Date(seconds * 1000);
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ for years 0000–9999
  return `${iso.slice(0, 19)}.${String(micros - seconds * 1e6).padStart(6, '0')}+00:00`;
}

/** Signature from base64 (88 chars, canonical) or hex (128 chars); INVALID_SIGNATURE otherwise. */
export function decodeSignature(v: JsonValue | undefined): Buffer {
  if (v === undefined || v === null) throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'v1.0 envelope has no signature');
  if (typeof v === 'string') {
    if (SIGNATURE_HEX_RE.test(v)) return Buffer.from(v, 'hex');
    if (SIGNATURE_B64_RE.test(v)) {
      const sig = Buffer.from(v, 'base64');
      if (sig.length === 64 && sig.toString('base64') === v) return sig;
    }
  }
  throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'v1.0 signature must be 88 base64 or 128 hex chars');
}

/**
 * Parses and checks a body: JSON (MALFORMED_FRAME), version (INVALID_VERSION), every other
 * field (MALFORMED_FRAME), the signature's encoding (INVALID_SIGNATURE). Does not verify.
 */
export function parseEnvelope(body: string | Uint8Array, limits?: JsonLimits): V1Envelope {
  const doc = parseJson(body, limits);
  if (!(doc instanceof Map)) throw malformed('body must be a JSON object');
  const version = doc.get('version');
  if (typeof version !== 'string' || !(V1_VERSIONS as readonly string[]).includes(version)) {
    throw new PeerError(ErrorCode.INVALID_VERSION, `v1.0 envelope version must be "1.0" or "0.3", got ${typeof version === 'string' ? JSON.stringify(version.slice(0, 16)) : typeof version}`);
  }
  const timestamp = doc.get('timestamp');
  const timestampMs = typeof timestamp === 'string' ? parseTimestamp(timestamp) : undefined;
  if (timestampMs === undefined) throw malformed('timestamp must be ISO 8601 UTC (Z or +00:00)');
  const nonce = doc.get('nonce');
  if (typeof nonce !== 'string' || !NONCE_RE.test(nonce)) throw malformed('nonce must be 32 lowercase hex chars');
  const payload = doc.get('payload');
  if (!(payload instanceof Map)) throw malformed('payload must be a JSON object');
  const sessionId = doc.get('session_id') ?? null;
  if (sessionId !== null && (typeof sessionId !== 'string' || !UUID_RE.test(sessionId))) throw malformed('session_id must be a UUID or null');
  const seq = doc.get('sequence_num') ?? null;
  let sequenceNum: number | null = null;
  if (seq !== null) {
    const n = seq instanceof JsonNumber && seq.isInteger ? Number(seq.text) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw malformed('sequence_num must be a non-negative integer or null');
    sequenceNum = n === 0 ? 0 : n;
  }
  return {
    version: version as V1Version,
    msgType: idString(doc.get('msg_type'), 'msg_type', false, malformed),
    senderId: idString(doc.get('sender_id'), 'sender_id', false, malformed),
    recipientId: idString(doc.get('recipient_id'), 'recipient_id', true, malformed),
    sessionId,
    sequenceNum,
    timestamp: timestamp as string,
    timestampMs,
    nonce,
    payload,
    signature: decodeSignature(doc.get('signature')),
    body: doc,
  };
}

/** The six signed fields as Python's json.dumps(sort_keys=True, compact) writes them, from the payload's canonical text. */
function signedText(version: string, msgType: string, senderId: string, payloadJson: string, timestamp: string, nonce: string): string {
  // Keys in code point order: msg_type, nonce, payload, sender_id, timestamp, version.
  return `{"msg_type":${quotePython(msgType)},"nonce":${quotePython(nonce)},"payload":${payloadJson},` +
    `"sender_id":${quotePython(senderId)},"timestamp":${quotePython(timestamp)},"version":${quotePython(version)}}`;
}

/** The bytes the signature covers (pure ASCII, thanks to ensure_ascii). */
export function signedBytes(env: Pick<V1Envelope, 'version' | 'msgType' | 'senderId' | 'payload' | 'timestamp' | 'nonce'>): Buffer {
  return Buffer.from(signedText(env.version, env.msgType, env.senderId, canonicalJson(env.payload), env.timestamp, env.nonce), 'latin1');
}

/** A 32-byte Ed25519 public key from bytes or 64 hex chars; INVALID_KEY otherwise. */
export function publicKeyFrom(key: string | Uint8Array): Buffer {
  if (typeof key === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw new PeerError(ErrorCode.INVALID_KEY, 'a v1.0 public key must be 64 hex chars');
    return Buffer.from(key, 'hex');
  }
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new PeerError(ErrorCode.INVALID_KEY, 'a v1.0 public key must be 32 bytes');
  return Buffer.from(key);
}

/** Throws INVALID_SIGNATURE unless `publicKey` signed the envelope's six fields. */
export function verifyEnvelope(env: V1Envelope, publicKey: string | Uint8Array): void {
  if (!Identity.isValidSignature(publicKeyFrom(publicKey), signedBytes(env), env.signature)) {
    throw new PeerError(ErrorCode.INVALID_SIGNATURE, `v1.0 signature from ${env.senderId} does not verify`);
  }
}

/** Parses, checks and verifies a body: format and signature only (no clock, no replay cache). */
export function verify(body: string | Uint8Array, publicKey: string | Uint8Array, limits?: JsonLimits): V1Envelope {
  const key = publicKeyFrom(publicKey); // a bad key is the caller's error: report it first
  const env = parseEnvelope(body, limits);
  verifyEnvelope(env, key);
  return env;
}

function invalid(message: string): PeerError {
  return new PeerError(ErrorCode.INVALID_ARGUMENT, `v1.0 fields: ${message}`);
}

/**
 * Builds and signs a v1.0 body: `{version, msg_type, sender_id, recipient_id, session_id,
 * sequence_num, timestamp, nonce, payload, signature}` in v1.0's field order, ASCII only. Every
 * field is checked as parseEnvelope would check it (INVALID_ARGUMENT), so what we send parses.
 */
export function sign(fields: V1Fields, identity: Identity, options: SignOptions = {}): string {
  const version = fields.version ?? '1.0';
  if (!(V1_VERSIONS as readonly string[]).includes(version)) throw invalid('version must be "1.0" or "0.3"');
  const msgType = idString(fields.msgType, 'msgType', false, invalid);
  const senderId = idString(fields.senderId, 'senderId', false, invalid);
  const recipientId = idString(fields.recipientId, 'recipientId', true, invalid);
  const sessionId = fields.sessionId ?? null;
  if (sessionId !== null && (typeof sessionId !== 'string' || !UUID_RE.test(sessionId))) throw invalid('sessionId must be a UUID or null');
  const seq = fields.sequenceNum ?? null;
  if (seq !== null && (!Number.isSafeInteger(seq) || seq < 0)) throw invalid('sequenceNum must be a non-negative integer or null');
  const ts = fields.timestamp;
  const timestamp = typeof ts === 'string' ? ts : formatTimestamp(ts ?? Date.now());
  if (parseTimestamp(timestamp) === undefined) throw invalid('timestamp is not a v1.0 timestamp');
  const nonce = fields.nonce ?? randomBytes(NONCE_BYTES).toString('hex');
  if (typeof nonce !== 'string' || !NONCE_RE.test(nonce)) throw invalid('nonce must be 32 lowercase hex chars');
  const p = fields.payload as unknown;
  if (p === null || typeof p !== 'object' || Array.isArray(p) || p instanceof JsonNumber) throw invalid('payload must be a JSON object');
  const payloadJson = canonicalJson(fields.payload);
  const sig = identity.sign(Buffer.from(signedText(version, msgType, senderId, payloadJson, timestamp, nonce), 'latin1'));
  const signature = options.signatureEncoding === 'hex' ? sig.toString('hex') : sig.toString('base64');
  return `{"version":${quotePython(version)},"msg_type":${quotePython(msgType)},"sender_id":${quotePython(senderId)},` +
    `"recipient_id":${quotePython(recipientId)},"session_id":${sessionId === null ? 'null' : quotePython(sessionId)},` +
    `"sequence_num":${seq === null ? 'null' : String(seq)},"timestamp":${quotePython(timestamp)},` +
    `"nonce":${quotePython(nonce)},"payload":${payloadJson},"signature":${quotePython(signature)}}`;
}
