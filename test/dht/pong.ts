/**
 * How a test's hand-made node answers a PING: a PONG signing the PING's nonce (proof.ts), and
 * how it gets into a core's routing table (a request, then that PONG to the core's proving PING).
 */
import { Identity } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import type { DhtCore, DhtOutput } from '../../src/dht/core.js';
import { decodeMessage, encodeFind, encodePong, MSG, type Message } from '../../src/dht/messages.js';
import { proofMessage } from '../../src/dht/proof.js';

export function encodePongFor(identity: Identity, m: Message, observed: Uint8Array): Uint8Array {
  if (m.type !== MSG.PING) throw new Error('not a PING');
  return encodePong(0, m.tid, identity.publicKey, observed, identity.sign(proofMessage(m.nonce, observed)));
}

/** The PING `core` sent to `to` in `out`, if any. */
export function pingTo(out: DhtOutput, to: string): Message | undefined {
  return out.datagrams.filter((d) => d.to === to).map((d) => decodeMessage(d.data)).find((m) => m.type === MSG.PING);
}

let tid = 0x70000000;

/**
 * `identity` at `from` sends `core` a FIND_NODE and answers the PING that comes back: it is
 * then in the table. Returns what the PONG produced (e.g. a probe PING), or null when the core
 * sent no PING (its table would not take the sender).
 */
export function admit(core: DhtCore, identity: Identity, from: string, now: number): DhtOutput | null {
  const out = core.receive(encodeFind(MSG.FIND_NODE, 0, tid++, identity.publicKey, identity.publicKey), from, now);
  const ping = pingTo(out, from);
  return ping ? core.receive(encodePongFor(identity, ping, encodeAddress(from)), from, now + 1) : null;
}
