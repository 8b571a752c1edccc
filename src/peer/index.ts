export { Peer, type PeerOptions, type PeerStats } from './peer.js';
export { Session, type Message, type SessionIoOptions } from './session.js';
export { TrustStore, type PublicKeyInput } from './trust.js';
