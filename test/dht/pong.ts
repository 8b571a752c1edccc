/** How a test's hand-made node answers a PING (kept apart: the PONG format is the one place it changes). */
import type { Identity } from '../../src/crypto/index.js';
import { encodePong, MSG, type Message } from '../../src/dht/messages.js';

export function encodePongFor(identity: Identity, m: Message, observed: Uint8Array): Uint8Array {
  if (m.type !== MSG.PING) throw new Error('not a PING');
  return encodePong(0, m.tid, identity.publicKey, observed);
}
