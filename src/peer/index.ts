export { Peer, type PeerOptions, type PeerStats } from './peer.js';
export { Session, type Message, type MessageV11, type Reply, type SessionIoOptions, type SendOptions, type RequestOptions } from './session.js';
export { Request } from './request.js';
export type { PeerEvents, SessionEvents, RejectionDetails } from './events.js';
export { TrustStore, type PublicKeyInput } from './trust.js';
export { RemoteHandle, type HandleOptions, type HandleEvents } from './handle.js';
