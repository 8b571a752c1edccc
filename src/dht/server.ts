/**
 * Answers to requests (the responder's side of each RPC), as a function of the node's state:
 * it returns the datagram to send back, or null to stay silent.
 */
import { sourcePrefix, SUBNET_BITS } from './address.js';
import type { DhtConfig } from './config.js';
import { MAX_AMPLIFICATION } from './constants.js';
import {
  encodeError, encodeNodes, encodePong, encodeStored, encodeValue, FLAG_WANT_TOKEN, HEADER_BYTES, MSG,
  WIRE_ERROR, type Message,
} from './messages.js';
import type { RandomSource } from './random.js';
import type { DhtRateLimiter } from './ratelimit.js';
import type { RoutingTable } from './routing-table.js';
import type { RecordStore, RejectReason } from './store.js';
import type { StoreTokens } from './tokens.js';
import { proofMessage } from './proof.js';

export const REJECT_WIRE: Record<RejectReason, number> = {
  malformed: WIRE_ERROR.MALFORMED,
  oversized: WIRE_ERROR.OVERSIZED,
  signature: WIRE_ERROR.SIGNATURE,
  unbound: WIRE_ERROR.UNBOUND,
  'not-newer': WIRE_ERROR.NOT_NEWER,
  stale: WIRE_ERROR.STALE,
  future: WIRE_ERROR.FUTURE,
  'wrong-key': WIRE_ERROR.WRONG_KEY,
  full: WIRE_ERROR.FULL,
  'entity-full': WIRE_ERROR.ENTITY_FULL,
  quota: WIRE_ERROR.QUOTA,
};

export interface ServeStats {
  served: number;
  rateLimited: number;
  badToken: number;
  storesAccepted: number;
  storesRejected: number;
}

export interface ServerState {
  config: Readonly<DhtConfig>;
  publicKey: Uint8Array;
  /** Signs PONGs with the node's key (proof.ts). */
  sign: (message: Uint8Array) => Uint8Array;
  flags: number;
  table: RoutingTable;
  store: RecordStore;
  tokens: StoreTokens;
  limiter: DhtRateLimiter | null;
  random: RandomSource;
  stats: ServeStats;
}

const EMPTY = new Uint8Array(0);

/** The k closest contacts to `target` (not the requester), encoded back to back, within `room` bytes. */
function contactsBlock(s: ServerState, target: Uint8Array, exclude: Uint8Array, room: number): [number, Uint8Array] {
  return s.table.encodeContacts(s.table.closestRefs(target, s.config.k, exclude), room);
}

/**
 * The answer to request `m` (`size` bytes on the wire, already charged to its source's rate
 * limit), or null. An answer is at most MAX_AMPLIFICATION × `size` bytes less `reserved` (what
 * else we send to that address for it: a PING proving its id): a spoofed source gains at most
 * that, and requesters pad FIND requests to get full answers (messages.ts).
 */
export function serve(
  s: ServerState, m: Message, size: number, reserved: number, from: string, fromBytes: Uint8Array, senderId: Uint8Array, now: number,
): Uint8Array | null {
  const { flags, publicKey: pk } = s;
  s.stats.served++;
  const max = Math.min(s.config.maxDatagramBytes, MAX_AMPLIFICATION * size - reserved);
  switch (m.type) {
    case MSG.PING:
      return encodePong(flags, m.tid, pk, fromBytes, s.sign(proofMessage(m.nonce, fromBytes)));
    case MSG.FIND_NODE: {
      const token = m.flags & FLAG_WANT_TOKEN ? s.tokens.issue(fromBytes, now) : null;
      const [n, block] = contactsBlock(s, m.target, senderId, max - HEADER_BYTES - 2 - (token ? token.length : 0));
      return encodeNodes(flags, m.tid, pk, token, n, block);
    }
    case MSG.FIND_VALUE: {
      const held = s.store.get(m.key, now);
      // An unpadded request gets no record that would not fit 3× its size: contacts instead.
      if (held.length === 0 || held.every((r) => 2 + r.length > max - HEADER_BYTES - 2)) {
        const [n, block] = contactsBlock(s, m.key, senderId, max - HEADER_BYTES - 2);
        return encodeValue(flags, m.tid, pk, [], n, block);
      }
      // As many records as fit, in random order: asking several holders samples a long provider list.
      for (let i = held.length - 1; i > 0; i--) {
        const j = s.random.u32() % (i + 1);
        [held[i], held[j]] = [held[j]!, held[i]!];
      }
      const picked: Uint8Array[] = [];
      let room = max - HEADER_BYTES - 2;
      for (const r of held) {
        if (picked.length === 255) break;
        if (2 + r.length > room) continue;
        picked.push(r);
        room -= 2 + r.length;
      }
      return encodeValue(flags, m.tid, pk, picked, 0, EMPTY);
    }
    case MSG.STORE: {
      if (!s.tokens.check(fromBytes, m.token, now)) {
        s.stats.badToken++;
        return encodeError(flags, m.tid, pk, WIRE_ERROR.BAD_TOKEN);
      }
      const r = s.store.put(m.key, m.record, now, sourcePrefix(from, SUBNET_BITS));
      if (!r.ok) {
        s.stats.storesRejected++;
        return encodeError(flags, m.tid, pk, REJECT_WIRE[r.reason]);
      }
      s.stats.storesAccepted++;
      return encodeStored(flags, m.tid, pk, r.status === 'stored' ? 0 : 1);
    }
    default:
      return null;
  }
}
