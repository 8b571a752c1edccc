/**
 * v1.0 compatibility (docs/V1_COMPAT.md). Everything is reachable as the `v1` namespace:
 *
 *   import { v1 } from 'peercomm';
 *   const env = v1.verify(body, publicKeyHex);          // format + signature, or a PeerError
 *   const body = v1.sign({ msgType, senderId, recipientId, payload }, identity);
 *   const endpoint = new v1.V1Endpoint({ identity, entityId, trust });
 *
 * and by name, for code that prefers named imports.
 */
export * as v1 from './api.js';
export * from './api.js';
