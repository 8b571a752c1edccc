/**
 * peercomm: Peer Communication Protocol v1.1 for AI agents.
 * This root is the public API; each folder's index.ts is that concern's public face.
 */
export { PeerError, ErrorCode, isPeerError } from './errors.js';
export {
  engine, type Engine,
  createAead, packBatch, AEAD_KEY_BYTES, AEAD_NONCE_BYTES, AEAD_TAG_BYTES, AEAD_SUITES,
  type Aead, type AeadBatch, type AeadRecord, type AeadSuite,
  Identity, fingerprintOf,
  x25519, type X25519KeyPair,
  hkdf, hkdfExtract, hkdfExpand, hmacSha256, hmacSha256Verify,
  constantTimeEqual, randomBytes, sha256, wipe,
} from './crypto/index.js';
export * as wire from './wire/index.js';
export {
  Peer, Session, TrustStore, Request, type PeerOptions, type PeerStats, type Message, type MessageV11, type Reply, type SessionIoOptions,
  type SendOptions, type RequestOptions, type PeerEvents, type SessionEvents, type RejectionDetails,
} from './peer/index.js';
export { RemoteHandle, type HandleOptions, type HandleEvents } from './peer/index.js';
export type { V1Message } from './compat/v1/index.js';
export { SessionState, type Phase, type RemoteIdentity } from './handshake/index.js';
export { memoryDuplexPair, type TcpAddress } from './transport/index.js';
export { MESSAGE_TYPES, type MessageType } from './wire/index.js';
export { RateLimiter, DEFAULT_RATE_LIMITS, type RateLimiterOptions, type RateClass } from './ratelimit/index.js';
export { DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_STREAM_THRESHOLD, configureBufferPool, bufferPoolStats, type BufferPoolStats } from './chunking/index.js';
export type { ListenerLimits, ListenerStats } from './peer/listener-guard.js';
export { v1 } from './compat/v1/index.js';
export {
  OfflineQueue, SqliteStore, RedisStore, defaultQueuePath, DEFAULT_TTL_MS, DEFAULT_MAX_TTL_MS, MAX_TTL_MS,
  type QueueOptions, type QueueStats, type QueuedMessage, type QueueStore, type Durability,
} from './queue/index.js';
export {
  RelayServer, RelayCore, RelayAgent, Reservation, openCircuit, joinCircuit, RelayStatus, RELAY_DEFAULTS,
  type RelayOptions, type RelayLimits, type RelayStats, type ReserveOptions,
} from './relay/index.js';
export type { Route } from './peer/peer.js';
