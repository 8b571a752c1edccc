export {
  SecureSession, DEFAULT_SESSION_TTL_MS, DEFAULT_MAX_RECORD_PAYLOAD, DEFAULT_RECORDS_PER_KEY,
  type SessionOptions, type SessionEvent,
} from './session.js';
export { ReplayWindow, DEFAULT_REPLAY_WINDOW, type ReplayVerdict } from './replay-window.js';
export { SessionChain } from './chain.js';
export { type ReceiveResult } from './session.js';
export { MESSAGE_HEADER_BYTES, runPayloadLength } from './run.js';
export { releaseSealBuffer } from './seal.js';
