/**
 * Codec of the six handshake messages and the handshake error, byte for byte as in
 * docs/PROTOCOL.md §5. Every body starts with version 0x11 and its frame type. Decoders
 * check every length before reading and reject trailing bytes (MALFORMED_FRAME).
 */
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, X25519_KEY_BYTES } from '../crypto/index.js';
import { ErrorCode, PeerError, fromPeer, type ErrorCode as Code } from '../errors.js';
import { ByteReader, ByteWriter, FrameType, PROTOCOL_VERSION, SESSION_ID_BYTES } from '../wire/index.js';
import { CHALLENGE_BYTES, CONFIRM_BYTES, INIT_NONCE_BYTES, MAX_ENTITY_ID_BYTES, MAX_OFFERED } from './constants.js';
import { COOKIE_BYTES } from './cookie.js';

export interface HandshakeInit {
  type: FrameType.HandshakeInit;
  versions: number[];
  suites: number[];
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  nonce: Uint8Array;
  entityId: string;
}

export interface HandshakeInitAck {
  type: FrameType.HandshakeInitAck;
  version: number;
  suite: number;
  identityKey: Uint8Array;
  ephemeralKey: Uint8Array;
  challenge: Uint8Array;
  entityId: string;
  signature: Uint8Array;
}

export interface ChallengeResponse {
  type: FrameType.ChallengeResponse;
  signature: Uint8Array;
}

/** session_established, session_confirm and ready share one shape: a session id and a MAC. */
export interface Confirmation {
  type: FrameType.SessionEstablished | FrameType.SessionConfirm | FrameType.Ready;
  sessionId: Uint8Array;
  confirm: Uint8Array;
}

/** cookie_reply and cookie_echo: a 32-byte cookie (cookie.ts). */
export interface CookieMessage {
  type: FrameType.CookieReply | FrameType.CookieEcho;
  cookie: Uint8Array;
}

export interface HandshakeErrorMessage {
  type: FrameType.HandshakeError;
  code: string;
  message: string;
}

export type HandshakeMessage = HandshakeInit | HandshakeInitAck | ChallengeResponse | Confirmation | HandshakeErrorMessage | CookieMessage;

/** Longest reason text carried by a handshake error. */
const MAX_ERROR_MESSAGE_BYTES = 512;

function start(type: FrameType): ByteWriter {
  return new ByteWriter().u8(PROTOCOL_VERSION).u8(type);
}

function offered(w: ByteWriter, list: readonly number[], what: string): void {
  if (list.length < 1 || list.length > MAX_OFFERED) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `offer 1..${MAX_OFFERED} ${what}`);
  }
  w.u8(list.length);
  for (const v of list) w.u8(v);
}

export function encodeHandshakeInit(m: Omit<HandshakeInit, 'type'>): Buffer {
  const w = start(FrameType.HandshakeInit);
  offered(w, m.versions, 'versions');
  offered(w, m.suites, 'suites');
  return w.raw(m.identityKey).raw(m.ephemeralKey).u64(m.timestamp, 'timestamp').raw(m.nonce)
    .shortString(m.entityId, MAX_ENTITY_ID_BYTES).finish();
}

/** Everything of handshake_init_ack that its signature covers (all but the signature). */
export function encodeInitAckSigned(m: Omit<HandshakeInitAck, 'type' | 'signature'>): Buffer {
  return start(FrameType.HandshakeInitAck).u8(m.version).u8(m.suite).raw(m.identityKey).raw(m.ephemeralKey)
    .raw(m.challenge).shortString(m.entityId, MAX_ENTITY_ID_BYTES).finish();
}

export function encodeChallengeResponse(signature: Uint8Array): Buffer {
  return start(FrameType.ChallengeResponse).raw(signature).finish();
}

export function encodeConfirmation(type: Confirmation['type'], sessionId: Uint8Array, confirm: Uint8Array): Buffer {
  return start(type).raw(sessionId).raw(confirm).finish();
}

export function encodeCookie(type: CookieMessage['type'], cookie: Uint8Array): Buffer {
  return start(type).raw(cookie).finish();
}

export function encodeHandshakeError(code: Code, message: string): Buffer {
  const text = Buffer.from(message, 'utf8').subarray(0, MAX_ERROR_MESSAGE_BYTES);
  return start(FrameType.HandshakeError).shortString(code, 64).u16(text.length).raw(text).finish();
}

/** The signed part of an encoded handshake_init_ack: the body without its last 64 bytes. */
export function initAckSignedPart(body: Uint8Array): Uint8Array {
  return body.subarray(0, body.length - ED25519_SIGNATURE_BYTES);
}

function readOffer(r: ByteReader, what: string): number[] {
  const n = r.u8();
  if (n < 1 || n > MAX_OFFERED) r.fail(`${n} ${what} offered (1..${MAX_OFFERED})`);
  return Array.from(r.bytesView(n));
}

/**
 * Decodes a handshake frame body (types 0x01–0x09). A version byte other than 0x11 is
 * INVALID_VERSION; any other malformation is MALFORMED_FRAME.
 */
export function decodeHandshakeMessage(body: Uint8Array): HandshakeMessage {
  const r = new ByteReader(body, 'handshake message');
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) {
    throw new PeerError(ErrorCode.INVALID_VERSION, `handshake message version 0x${version.toString(16)} is not 0x11`);
  }
  const type = r.u8();
  let m: HandshakeMessage;
  switch (type) {
    case FrameType.HandshakeInit:
      m = {
        type, versions: readOffer(r, 'versions'), suites: readOffer(r, 'suites'),
        identityKey: r.bytesView(ED25519_PUBLIC_KEY_BYTES), ephemeralKey: r.bytesView(X25519_KEY_BYTES),
        timestamp: r.u64(), nonce: r.bytesView(INIT_NONCE_BYTES), entityId: r.shortString(MAX_ENTITY_ID_BYTES),
      };
      break;
    case FrameType.HandshakeInitAck:
      m = {
        type, version: r.u8(), suite: r.u8(), identityKey: r.bytesView(ED25519_PUBLIC_KEY_BYTES),
        ephemeralKey: r.bytesView(X25519_KEY_BYTES), challenge: r.bytesView(CHALLENGE_BYTES),
        entityId: r.shortString(MAX_ENTITY_ID_BYTES), signature: r.bytesView(ED25519_SIGNATURE_BYTES),
      };
      break;
    case FrameType.ChallengeResponse:
      m = { type, signature: r.bytesView(ED25519_SIGNATURE_BYTES) };
      break;
    case FrameType.SessionEstablished:
    case FrameType.SessionConfirm:
    case FrameType.Ready:
      m = { type, sessionId: r.bytesView(SESSION_ID_BYTES), confirm: r.bytesView(CONFIRM_BYTES) };
      break;
    case FrameType.CookieReply:
    case FrameType.CookieEcho:
      m = { type, cookie: r.bytesView(COOKIE_BYTES) };
      break;
    case FrameType.HandshakeError: {
      const code = r.shortString(64);
      const len = r.u16();
      if (len > MAX_ERROR_MESSAGE_BYTES) r.fail('error message too long');
      const clean = fromPeer(code, Buffer.from(r.bytesView(len)).toString('utf8'));
      m = { type, code: clean.code, message: clean.reason };
      break;
    }
    default:
      return r.fail(`0x${type.toString(16)} is not a handshake message type`);
  }
  r.end();
  return m;
}
