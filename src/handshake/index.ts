export { Handshake, type HandshakeOptions, type HandshakeResult, type RemoteIdentity } from './handshake.js';
export { SessionState, phaseOf, isTerminal, type Phase } from './state.js';
export { InitReplayGuard } from './replay-guard.js';
export { SuiteId, SUPPORTED_VERSIONS, TIMESTAMP_WINDOW_MS, DEFAULT_CHALLENGE_LIFETIME_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './constants.js';
export { decodeHandshakeMessage, encodeCookie, encodeHandshakeError, type HandshakeMessage } from './messages.js';
export { CookieJar, COOKIE_BYTES, COOKIE_SECRET_LIFETIME_MS } from './cookie.js';
export type { Role } from './key-schedule.js';
