/**
 * DhtCore: one Kademlia node, sans-I/O. It never opens a socket, reads a clock or starts a
 * timer: the driver passes every datagram with its source address and the time, calls tick()
 * at `deadline`, and sends the datagrams it is handed. Operations (lookups, publish, discover)
 * start with a method that returns an operation id and end with a 'done' event.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { encodeAddress, normalizeAddress, sourcePrefix } from './address.js';
import { resolveConfig, type DhtConfig } from './config.js';
import { MinHeap, type Timed } from '../util/min-heap.js';
import { idsEqual, nodeIdOf } from './id.js';
import {
  decodeMessage, encodeError, encodeFind, encodePing, encodeStore, FLAG_READ_ONLY, FLAG_WANT_TOKEN, HEADER_BYTES, isRequest, MSG,
  PING_BYTES, tidOf, WIRE_ERROR, type Message,
} from './messages.js';
import { ed25519Verifier, NONCE_BYTES, proofMessage, type NodeSigner, type ProofVerifier } from './proof.js';
import { Operations, type Run } from './operations.js';
import { SecureRandom, type RandomSource } from './random.js';
import { TokenBucketLimiter, type DhtRateLimiter } from './ratelimit.js';
import { type Contact, RoutingTable, type TouchResult } from './routing-table.js';
import { serve, type ServerState, type ServeStats } from './server.js';
import { RecordStore } from './store.js';
import { StoreTokens } from './tokens.js';
import type { Candidate } from './lookup.js';
import type { OpResult, PublishFields } from './operations.js';
import type { RecordSigner } from './record.js';
import type { BindingCheck } from './binding.js';

export interface Outgoing {
  to: string;
  data: Uint8Array;
}

export type DhtEvent = { type: 'done'; result: OpResult };

export interface DhtOutput {
  datagrams: Outgoing[];
  events: DhtEvent[];
  /** When tick() must be called next (ms, same clock as `now`). */
  deadline: number;
}

export interface DhtCoreOptions {
  /** The node's Ed25519 key: the node id is SHA-256 of its public key, and it signs PONGs (proof.ts). */
  identity: NodeSigner;
  /** Checks PONG signatures; default Ed25519 (a simulation passes SimulatedKeys.verify). */
  verify?: ProofVerifier;
  now: number;
  config?: Partial<DhtConfig>;
  random?: RandomSource;
  /**
   * Per-source limit on FIND_NODE/FIND_VALUE/STORE; default the spec's 10/min burst 20; null:
   * none (PINGs then go unlimited too). PINGs have a bucket of their own of the same size, so a
   * node's lookups never use up the PINGs that prove its id to us.
   */
  rateLimiter?: DhtRateLimiter | null;
}

export interface DhtStats extends ServeStats {
  received: number;
  sent: number;
  /** Datagrams that did not parse (dropped). */
  malformed: number;
  /** Datagrams over maxDatagramBytes (dropped before parsing). */
  oversized: number;
  /** Responses matching no request (late, duplicated or forged). */
  unexpected: number;
  /** Requests without an answer by the hard timeout (rtoMaxMs). */
  timeouts: number;
  /** Lookup requests past their RTO (the lookup moved on; a late answer still counts). */
  slow: number;
  /** Records in responses that failed validation. */
  badRecords: number;
  /** PONGs whose signature did not prove the key they carry (their sender was not admitted). */
  badProofs: number;
  /** Contacts admitted to the routing table after proving their id (a signed PONG). */
  proven: number;
}

/**
 * A request in flight; its deadline (`at`) sits in the timer heap. A lookup request has two:
 * at its RTO it is given up for the lookup's sake (which asks someone else at once), but an
 * answer is still taken until `hardAt`, and only then does the contact count as failed. So a
 * tight RTO costs no contact that was merely slow.
 */
export interface Pending extends Timed {
  hardAt: number;
  soft: boolean;
  tid: number;
  to: string;
  id: Uint8Array | null;
  type: number;
  sentAt: number;
  done: boolean;
  run: Run | null;
  cand: Candidate | null;
  probe: { bucket: number; id: Uint8Array; addr: Uint8Array } | null;
  /** STORE and PING operations: told whether the request succeeded. */
  settle: ((ok: boolean, now: number) => void) | null;
  /** PING: the nonce its PONG must sign. */
  nonce: Uint8Array | null;
  /** PING sent to prove a sender not yet in the table (at most one per address in flight). */
  verify: boolean;
  /** Called when it is settled (afterProofs). */
  waiters: ((now: number) => void)[] | null;
}

const RESPONSE_OF: Record<number, number> = {
  [MSG.PING]: MSG.PONG, [MSG.FIND_NODE]: MSG.NODES, [MSG.FIND_VALUE]: MSG.VALUE, [MSG.STORE]: MSG.STORED,
};
const RECENT_RTTS = 32;
/**
 * PINGs proving new senders in flight at once: a flood of requests from fresh (or spoofed)
 * sources costs at most this many PINGs per rtoMaxMs, and as many signature checks.
 */
const MAX_VERIFYING = 256;
/** An unmeasured contact's RTO: this many times the node's median RTT. */
const UNMEASURED_RTO_FACTOR = 2;
const NO_DATAGRAMS: Outgoing[] = [];
const NO_EVENTS: DhtEvent[] = [];

export class DhtCore {
  readonly id: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly config: Readonly<DhtConfig>;
  readonly table: RoutingTable;
  readonly store: RecordStore;
  readonly random: RandomSource;
  readonly stats: DhtStats = {
    received: 0, sent: 0, malformed: 0, oversized: 0, unexpected: 0, timeouts: 0, slow: 0, badRecords: 0, badProofs: 0, proven: 0,
    served: 0, rateLimited: 0, badToken: 0, storesAccepted: 0, storesRejected: 0,
  };
  readonly ops: Operations;
  private readonly limitBits: { v4: number; v6: number };
  private readonly server: ServerState;
  private readonly pending = new Map<number, Pending>();
  /** Proving PINGs in flight, by address. */
  private readonly verifying = new Map<string, Pending>();
  private readonly verifyProof: ProofVerifier;
  private readonly pingLimiter: DhtRateLimiter | null;
  private readonly timers = new MinHeap<Pending>();
  private outbox: Outgoing[] = NO_DATAGRAMS;
  private events: DhtEvent[] = NO_EVENTS;
  private nextMaintenance: number;
  /**
   * For contacts without an RTT of their own: UNMEASURED_RTO_FACTOR × the median of the last
   * RECENT_RTTS samples. A median, not a maximum or a mean: a few slow (or deliberately slow)
   * answers must not stretch every lookup's timeouts.
   */
  private readonly recent = new Uint16Array(RECENT_RTTS);
  private recentAt = 0;
  private samples = 0;
  private median = -1;

  constructor(opts: DhtCoreOptions) {
    this.config = resolveConfig(opts.config);
    this.publicKey = new Uint8Array(opts.identity.publicKey);
    this.verifyProof = opts.verify ?? ed25519Verifier;
    // A copy: sha256() returns a slice of a shared 8 KiB pool, which one long-lived id would pin.
    this.id = new Uint8Array(nodeIdOf(this.publicKey));
    this.random = opts.random ?? new SecureRandom();
    const c = this.config;
    this.table = new RoutingTable(this.id, c.k, c.maxFailures, c.maxPerPrefix);
    this.store = new RecordStore(this.id, c, this.random);
    this.server = {
      config: c, publicKey: this.publicKey, sign: (m) => opts.identity.sign(m), flags: this.flags, table: this.table, store: this.store,
      tokens: new StoreTokens(this.random, opts.now, c.tokenRotationMs),
      limiter: opts.rateLimiter === undefined ? new TokenBucketLimiter() : opts.rateLimiter,
      random: this.random, stats: this.stats,
    };
    this.pingLimiter = opts.rateLimiter === null ? null : new TokenBucketLimiter();
    this.ops = new Operations(this);
    this.limitBits = { v4: c.limitPrefixV4, v6: 64 };
    // Spread maintenance over the period so a simulated network does not tick in lock step.
    this.nextMaintenance = opts.now + 1 + (this.random.u32() % c.maintenanceMs);
  }

  get flags(): number {
    return this.config.readOnly ? FLAG_READ_ONLY : 0;
  }

  // ---- driver interface -------------------------------------------------------------------

  /** One datagram from `from` ("ip:port", as formatAddress spells it). Never throws on bad input. */
  receive(data: Uint8Array, from: string, now: number): DhtOutput {
    this.stats.received++;
    if (data.length > this.config.maxDatagramBytes) {
      this.stats.oversized++;
      return this.drain();
    }
    // Requests are charged to their source prefix before anything else: parsing, the routing
    // table, the store. A fresh source port is not a fresh burst.
    // PING too, in its own buckets: answering it costs a signature.
    const limiter = data.length > 1 && data[1] === MSG.PING ? this.pingLimiter : this.server.limiter;
    if (data.length > 1 && isRequest(data[1]!) && limiter && !limiter.allow(this.limitKey(from), now)) {
      this.stats.rateLimited++;
      // The notice is no larger than the request (a spoofed source gains nothing).
      if (data.length >= HEADER_BYTES) this.send(from, encodeError(this.flags, tidOf(data), this.publicKey, WIRE_ERROR.RATE_LIMITED));
      return this.drain();
    }
    let m: Message;
    let fromBytes: Uint8Array;
    try {
      m = decodeMessage(data, this.config.maxDatagramBytes);
      fromBytes = encodeAddress(from);
    } catch (err) {
      if (!(err instanceof PeerError)) throw err;
      this.stats.malformed++;
      return this.drain();
    }
    const senderId = nodeIdOf(m.publicKey);
    if (idsEqual(senderId, this.id)) {
      this.stats.malformed++;
      return this.drain();
    }
    if (isRequest(m.type)) {
      // A PING's sender is not asked to prove itself in turn: PONG and PING together would
      // exceed 3× a PING. It proves itself when it sends anything else.
      const proving = !(m.flags & FLAG_READ_ONLY) && !this.table.refresh(senderId, fromBytes, now) && m.type !== MSG.PING &&
        this.mayProve(senderId, from, fromBytes, now);
      const reply = serve(this.server, m, data.length, proving ? PING_BYTES : 0, from, fromBytes, senderId, now);
      if (reply) this.send(from, reply);
      if (proving) this.prove(senderId, from, now);
    } else {
      this.onResponse(m, from, fromBytes, senderId, now);
    }
    return this.drain();
  }

  /** Timeouts and maintenance due at `now`. */
  tick(now: number): DhtOutput {
    for (let p = this.timers.peek(); p && p.at <= now; p = this.timers.peek()) {
      this.timers.pop();
      if (p.done) continue;
      if (p.at < p.hardAt) {
        this.stats.slow++;
        p.soft = true;
        p.at = p.hardAt;
        this.timers.push(p);
        this.ops.failed(p, now, true);
      } else {
        this.onTimeout(p, now);
      }
    }
    if (now >= this.nextMaintenance) {
      this.nextMaintenance = now + this.config.maintenanceMs;
      this.maintain(now);
    }
    return this.drain();
  }

  /** Datagrams and events produced since the last call, and the next deadline. */
  drain(): DhtOutput {
    const out = { datagrams: this.outbox, events: this.events, deadline: this.deadline };
    this.outbox = NO_DATAGRAMS;
    this.events = NO_EVENTS;
    return out;
  }

  get deadline(): number {
    const p = this.timers.peek();
    return p && p.at < this.nextMaintenance ? p.at : this.nextMaintenance;
  }

  get pendingRequests(): number {
    return this.pending.size;
  }

  /** The rate limiter's key for a source: its IPv4 /32 (or /limitPrefixV4) or IPv6 /64. */
  private limitKey(from: string): string {
    return sourcePrefix(from, this.limitBits);
  }

  // ---- operations (see operations.ts) --------------------------------------------------------

  /** Joins through `addresses` ("ip:port"): a lookup of our own id, then bucket refreshes. */
  bootstrap(addresses: string[], now: number): number {
    return this.ops.bootstrap(addresses.map(normalizeAddress), now);
  }

  findNode(target: Uint8Array, now: number): number {
    return this.ops.findNode(target, now);
  }

  /**
   * FIND_VALUE of an entity's record (its presence key, or its key for `capability`); `bind`
   * says which keys are bound to the name (default: self-certifying ids only).
   */
  lookup(entityId: string, now: number, capability?: string, bind?: BindingCheck): number {
    return this.ops.lookup(entityId, capability, now, bind);
  }

  /** FIND_VALUE of a capability's provider key: the signed records of the entities offering it. */
  discover(capability: string, now: number, bind?: BindingCheck): number {
    return this.ops.discover(capability, now, bind);
  }

  /**
   * Signs `fields` with `signer` (last_seen = now) and stores the record at the k closest nodes
   * of each of its keys; republished every republishMs (fresh last_seen) until unpublish().
   */
  publish(fields: PublishFields, signer: RecordSigner, now: number): number {
    return this.ops.publish(fields, signer, now);
  }

  unpublish(entityId: string): boolean {
    return this.ops.unpublish(entityId);
  }

  /** Stores a signed tombstone for every record this node publishes (graceful close); the operations' ids. */
  retire(now: number): number[] {
    return this.ops.retire(now);
  }

  ping(address: string, now: number): number {
    return this.ops.ping(normalizeAddress(address), now);
  }

  /** True once a bootstrap found at least one node (bucket refresh runs from then on). */
  get joined(): boolean {
    return this.ops.joined;
  }

  // ---- internals shared with operations.ts ---------------------------------------------------

  send(to: string, data: Uint8Array): void {
    if (this.outbox === NO_DATAGRAMS) this.outbox = [];
    this.outbox.push({ to, data });
    this.stats.sent++;
  }

  emit(result: OpResult): void {
    if (this.events === NO_EVENTS) this.events = [];
    this.events.push({ type: 'done', result });
  }

  /** RTO for a contact: its own estimate if it has one, else the network-wide one. */
  rto(id: Uint8Array | null): number {
    const c = this.config;
    const own = id ? this.table.rtt(id) : null;
    let rto: number;
    if (own) rto = own[0] + 4 * own[1];
    else if (this.samples > 0) rto = UNMEASURED_RTO_FACTOR * this.medianRtt();
    else rto = c.rtoInitialMs;
    return Math.min(c.rtoMaxMs, Math.max(c.rtoMinMs, rto));
  }

  /**
   * Sends a request and tracks it; null (nothing sent) when maxPendingRequests are in flight.
   * `body(tid)` builds the datagram.
   */
  request(type: number, to: string, id: Uint8Array | null, body: (tid: number) => Uint8Array, now: number, ref: Partial<Pending>): Pending | null {
    if (this.pending.size >= this.config.maxPendingRequests) return null;
    let tid = this.random.u32();
    while (this.pending.has(tid)) tid = this.random.u32();
    const c = this.config;
    const hardAt = now + c.rtoMaxMs;
    const p: Pending = {
      at: ref.run ? now + this.rto(id) : hardAt, hardAt, soft: false, tid, to, id, type, sentAt: now, done: false,
      run: null, cand: null, probe: null, settle: null, nonce: null, verify: false, waiters: null, ...ref,
    };
    this.pending.set(tid, p);
    this.timers.push(p);
    this.send(to, body(tid));
    return p;
  }

  findRequest(type: typeof MSG.FIND_NODE | typeof MSG.FIND_VALUE, to: string, id: Uint8Array | null, target: Uint8Array, wantToken: boolean, now: number, ref: Partial<Pending>): Pending | null {
    const flags = this.flags | (wantToken ? FLAG_WANT_TOKEN : 0);
    return this.request(type, to, id, (tid) => encodeFind(type, flags, tid, this.publicKey, target), now, ref);
  }

  storeRequest(to: string, id: Uint8Array, token: Uint8Array, key: Uint8Array, record: Uint8Array, now: number, ref: Partial<Pending>): Pending | null {
    return this.request(MSG.STORE, to, id, (tid) => encodeStore(this.flags, tid, this.publicKey, token, key, record), now, ref);
  }

  /** A PING with a fresh nonce: its PONG must sign it (proof.ts). */
  pingRequest(to: string, id: Uint8Array | null, now: number, ref: Partial<Pending>): Pending | null {
    const nonce = this.random.bytes(NONCE_BYTES);
    return this.request(MSG.PING, to, id, (tid) => encodePing(this.flags, tid, this.publicKey, nonce), now, { ...ref, nonce });
  }

  /**
   * A node not in the table (at this address) spoke to us: we PING it, and admit it only when
   * its PONG signs our nonce with the key of `id` (ping-before-insert with a proven id). Not if
   * the table would not take it anyway, or a PING to that address is in flight.
   */
  private mayProve(id: Uint8Array, from: string, addr: Uint8Array, now: number): boolean {
    return this.verifying.size < MAX_VERIFYING && !this.verifying.has(from) && this.table.admits(id, addr, now, this.config.pingFreshMs);
  }

  private prove(id: Uint8Array, from: string, now: number): void {
    const p = this.pingRequest(from, new Uint8Array(id), now, { verify: true });
    if (p) this.verifying.set(from, p);
  }

  /**
   * Kademlia's bucket update for a node that proved its id at `addr`; pings a full bucket's
   * LRS contact, which keeps its place if it answers.
   */
  private touch(id: Uint8Array, addr: Uint8Array, now: number, rtt: number | undefined): TouchResult {
    const r = this.table.touch(id, addr, now, rtt);
    if (r !== 'full') return r;
    const index = this.table.bucketIndex(id);
    const b = this.table.bucket(index)!;
    if (b.probing || now - b.seenSeconds(0) * 1000 < this.config.pingFreshMs) return r;
    const lrsId = b.id(0);
    const sent = this.pingRequest(b.address(0), lrsId, now, { probe: { bucket: index, id: new Uint8Array(id), addr: new Uint8Array(addr) } });
    if (sent) b.probing = true;
    return r;
  }

  private onResponse(m: Message, from: string, fromBytes: Uint8Array, senderId: Uint8Array, now: number): void {
    const p = this.pending.get(m.tid);
    // Only an answer from the address asked, of the type asked (or an error), settles a request.
    if (!p || p.to !== from || (m.type !== MSG.ERROR && RESPONSE_OF[p.type] !== m.type)) {
      this.stats.unexpected++;
      return;
    }
    this.settled(p);
    this.answered(p, m, from, fromBytes, senderId, now);
    this.release(p, now);
  }

  private answered(p: Pending, m: Message, from: string, fromBytes: Uint8Array, senderId: Uint8Array, now: number): void {
    const rtt = now - p.sentAt;
    this.sampleRtt(rtt);
    // A PONG proves its key only with a signature of our nonce; an unproven one is no answer.
    let proven = false;
    if (m.type === MSG.PONG) {
      proven = this.verifyProof(m.publicKey, proofMessage(p.nonce!, m.observed), m.signature);
      if (!proven) {
        this.stats.badProofs++;
        return this.failedRequest(p, now);
      }
    }
    const wrongNode = p.id !== null && !idsEqual(p.id, senderId);
    if (wrongNode && !p.verify) this.table.remove(p.id!);
    if (!(m.flags & FLAG_READ_ONLY)) {
      // A proof admits the key it proves, at this address, whatever id we expected there.
      if (proven) {
        const r = this.touch(senderId, fromBytes, now, rtt);
        if (r === 'added' || r === 'replaced') this.stats.proven++;
      } else if (!this.table.refresh(senderId, fromBytes, now, rtt) && this.mayProve(senderId, from, fromBytes, now)) {
        this.prove(senderId, from, now);
      }
    }
    if (p.verify) return;
    if (p.probe) {
      const b = this.table.bucket(p.probe.bucket);
      if (b) b.probing = false;
      if (wrongNode) this.table.touch(p.probe.id, p.probe.addr, now);
      return;
    }
    if (wrongNode) this.ops.failed(p, now);
    else this.ops.answered(p, m, senderId, now);
  }

  /** `p` is answered or timed out: it leaves the pending maps. */
  private settled(p: Pending): void {
    this.pending.delete(p.tid);
    if (p.verify && this.verifying.get(p.to) === p) this.verifying.delete(p.to);
    p.done = true;
  }

  /** Tells afterProofs() waiters that `p` is settled, once its effect on the table is made. */
  private release(p: Pending, now: number): void {
    const waiters = p.waiters;
    p.waiters = null;
    if (waiters) for (const w of waiters) w(now);
  }

  /**
   * Calls `then` once every proving PING now in flight is settled (at once if none is): a join
   * ends when the contacts it met have proved themselves (or failed to), so the routing table
   * holds them by then. At most rtoMaxMs later.
   */
  afterProofs(now: number, then: (now: number) => void): void {
    let left = this.verifying.size;
    if (left === 0) return then(now);
    const one = (t: number): void => {
      if (--left === 0) then(t);
    };
    for (const p of this.verifying.values()) (p.waiters ??= []).push(one);
  }

  private onTimeout(p: Pending, now: number): void {
    this.settled(p);
    this.stats.timeouts++;
    this.failedRequest(p, now);
    this.release(p, now);
  }

  /** `p` got no answer by its hard deadline, or a PONG that proves nothing. */
  private failedRequest(p: Pending, now: number): void {
    if (p.verify) return;
    if (p.probe) {
      // The least recently seen contact did not answer: it gives its place to the newcomer.
      const b = this.table.bucket(p.probe.bucket);
      if (b) b.probing = false;
      if (p.id) this.table.remove(p.id);
      this.table.touch(p.probe.id, p.probe.addr, now);
      return;
    }
    if (p.id) this.table.failed(p.id);
    this.ops.failed(p, now);
  }

  private sampleRtt(r: number): void {
    this.recent[this.recentAt] = Math.min(0xffff, Math.max(1, Math.ceil(r)));
    this.recentAt = (this.recentAt + 1) % RECENT_RTTS;
    this.samples = Math.min(RECENT_RTTS, this.samples + 1);
    this.median = -1;
  }

  /** The median of the recent samples, computed when asked after a new sample. */
  private medianRtt(): number {
    if (this.median < 0) {
      const sorted = this.recent.slice(0, this.samples).sort();
      this.median = sorted[sorted.length >> 1]!;
    }
    return this.median;
  }

  private maintain(now: number): void {
    this.server.limiter?.sweep(now);
    this.pingLimiter?.sweep(now);
    this.store.sweep(now);
    this.ops.maintain(now);
  }

  /** Contacts in the routing table (diagnostics, tests). */
  contacts(): Contact[] {
    return this.table.contacts();
  }
}
