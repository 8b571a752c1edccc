/**
 * The public face of v1.0 compatibility, exported as the `v1` namespace (see index.ts):
 * `v1.verify(body, publicKey)`, `v1.sign(fields, identity)`, the endpoint, the client, and
 * the pieces they are made of. docs/V1_COMPAT.md says what is implemented and why.
 */
export {
  verify, sign, parseEnvelope, signedBytes, verifyEnvelope, decodeSignature, publicKeyFrom,
  parseTimestamp, formatTimestamp,
  V1_VERSIONS, SIGNED_FIELDS, NONCE_BYTES, MAX_ID_LENGTH,
  type V1Envelope, type V1Fields, type V1Version, type SignOptions,
} from './envelope.js';
export {
  JsonNumber, parseJson, toPlain, JSON_MAX_BYTES, JSON_MAX_DEPTH, PYTHON_INT_MAX_DIGITS,
  type JsonValue, type JsonObject, type JsonInput, type PlainJson, type JsonLimits,
} from './json.js';
export { canonicalJson, type StringifyOptions } from './canonical.js';
export { pythonFloatRepr, compareCodePoints, quotePython } from './python.js';
export { ReplayGuard, TIMESTAMP_TOLERANCE_MS, NONCE_WINDOW_MS, DEFAULT_MAX_NONCES, type ReplayGuardOptions } from './replay.js';
export {
  V1Handshakes, claimedKey, HANDSHAKE_TTL_MS, SESSION_TTL_MS, CONFIRM_TOLERANCE_MS, CHALLENGE_BYTES, HANDSHAKE_TYPES,
  type V1Session, type V1HandshakeOptions, type HandshakeType,
} from './handshake.js';
export { V1Receiver, type KeyDirectory, type V1Message, type V1Outcome, type V1Reply, type ReceiveHooks, type V1ReceiverOptions } from './receiver.js';
export {
  V1Client, messageUrl, errorFromResponse,
  CLIENT_TIMEOUT_MS, CLIENT_ATTEMPTS, CLIENT_BACKOFF_MS, NO_RETRY_STATUSES, MAX_RESPONSE_BYTES,
  type V1ClientOptions, type V1Response,
} from './client.js';
export {
  V1Endpoint, DEFAULT_ENDPOINT_LIMITS, rateClassOfV1,
  type V1EndpointOptions, type V1EndpointLimits, type V1EndpointStats, type V1Rejection,
} from './endpoint.js';

import { JsonNumber } from './json.js';

/** A float for sign(): `v1.float(1)` is written `1.0` (a plain 1 is an int). */
export const float = (value: number): JsonNumber => JsonNumber.float(value);
/** An int for sign(), exact at any size: `v1.int(2n ** 64n)`. */
export const int = (value: bigint | number): JsonNumber => JsonNumber.int(value);
