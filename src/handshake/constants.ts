/**
 * Handshake constants: sizes, labels and lifetimes. docs/PROTOCOL.md §5 gives the same values
 * with the message layouts.
 */
import type { AeadSuite } from '../crypto/index.js';

/** Cipher suite ids on the wire. */
export enum SuiteId {
  Aes256Gcm = 0x01,
  ChaCha20Poly1305 = 0x02,
}

export const SUITE_NAMES: Readonly<Record<SuiteId, AeadSuite>> = {
  [SuiteId.Aes256Gcm]: 'aes-256-gcm',
  [SuiteId.ChaCha20Poly1305]: 'chacha20-poly1305',
};

export function suiteId(suite: AeadSuite): SuiteId {
  return suite === 'chacha20-poly1305' ? SuiteId.ChaCha20Poly1305 : SuiteId.Aes256Gcm;
}

/** Protocol versions this implementation speaks, most preferred first (0x11 = v1.1). */
export const SUPPORTED_VERSIONS: readonly number[] = [0x11];

/** At most this many versions or suites may be offered in handshake_init. */
export const MAX_OFFERED = 8;

export const INIT_NONCE_BYTES = 16;
export const CHALLENGE_BYTES = 32;
export const CONFIRM_BYTES = 32;
/** Entity ids are UTF-8, 1 to 255 bytes. */
export const MAX_ENTITY_ID_BYTES = 255;

/** HKDF info of the spec's session key (spec §Session Key Derivation, verbatim). */
export const SESSION_KEY_INFO = 'peer-v1.1-session-key';

/** Labels expanded from session_key (HKDF-Expand info strings). */
export const LABELS = {
  keyInitiatorToResponder: 'peer-v1.1 key initiator->responder',
  ivInitiatorToResponder: 'peer-v1.1 iv initiator->responder',
  keyResponderToInitiator: 'peer-v1.1 key responder->initiator',
  ivResponderToInitiator: 'peer-v1.1 iv responder->initiator',
  confirmKey: 'peer-v1.1 key confirmation',
  sessionId: 'peer-v1.1 session id',
} as const;

/** Domain-separation prefixes of what each signature and MAC covers. */
export const CONTEXTS = {
  initAckSignature: 'peer-v1.1 handshake_init_ack signature',
  challengeSignature: 'peer-v1.1 challenge_response signature',
  responderConfirm: 'peer-v1.1 session_established',
  initiatorConfirm: 'peer-v1.1 session_confirm',
  ready: 'peer-v1.1 ready',
} as const;

const encoded = new Map<string, Buffer>();
/** The UTF-8 bytes of one of the constant labels or contexts above, encoded once. */
export function labelBytes(label: string): Buffer {
  let b = encoded.get(label);
  if (b === undefined) encoded.set(label, (b = Buffer.from(label, 'utf8')));
  return b;
}

/** handshake_init timestamps further than this from our clock are replays (spec: ±60 s). */
export const TIMESTAMP_WINDOW_MS = 60_000;
/** challenge_response must arrive within this of handshake_init_ack. */
export const DEFAULT_CHALLENGE_LIFETIME_MS = 10_000;
/** A handshake not READY within this is abandoned (EXPIRED). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 20_000;
