/**
 * Operations of a node: lookups (Lookup drives each), publish (lookup with store tokens, then
 * STORE to the k closest), discover, bootstrap, and the periodic bucket refresh and republish.
 * Each operation ends with one OpResult; a failed one carries a PeerError DHT_ERROR.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { assertId, commonPrefixLength, compareDistance, randomIdInBucket } from './id.js';
import { firstPerPrefix, Lookup, type LookupMode } from './lookup.js';
import { MSG, nextContact, type Message } from './messages.js';
import {
  decodeRecord, hasValidSignatures, keyKindFor, providerKey, recordKey, recordKeys, signRecord, staleAt,
  type DhtRecord, type KeyKind, type RecordFields, type RecordSigner,
} from './record.js';
import type { Contact } from './routing-table.js';
import { selfCertifyingOnly, type BindingCheck } from './binding.js';
import { Claims, type ResolvedRecord } from './claims.js';
import type { DhtCore, Pending } from './core.js';
import { ID_BITS } from './constants.js';

export type OpKind = 'bootstrap' | 'find-node' | 'lookup' | 'discover' | 'publish' | 'refresh' | 'ping';

export interface OpResult {
  op: number;
  kind: OpKind;
  ok: boolean;
  /** DHT_ERROR (with details.reason) when !ok. */
  error: PeerError | null;
  /** find-node, bootstrap, refresh: the k closest nodes that answered, closest first; ping: the node. */
  closest: Contact[];
  /**
   * lookup: the claims found for the name, bound first (a bound one ends the lookup early);
   * discover: the providers found; publish: the record published. Each with its binding.
   */
  records: ResolvedRecord[];
  /** Records of an entity signed by a key not bound to it, where a bound one was found. */
  conflicts: ResolvedRecord[];
  /** publish: STOREs accepted by other nodes (over all keys). */
  stored: number;
  /** Requests sent by this operation. */
  rpcs: number;
  startedAt: number;
  finishedAt: number;
}

export interface Operation {
  id: number;
  kind: OpKind;
  internal: boolean;
  startedAt: number;
  rpcs: number;
  /** Lookups or store batches still running. */
  parts: number;
  closest: Contact[];
  claims: Claims | null;
  published: ResolvedRecord | null;
  stored: number;
  /** publish: keys that no node accepted. */
  failedKeys: number;
  error: PeerError | null;
}

/** One lookup inside an operation. */
export interface Run {
  op: Operation;
  lookup: Lookup;
  key: Uint8Array;
  wantToken: boolean;
  /** For value lookups: the kind of key the records must belong to. */
  kind: KeyKind | null;
  then: (run: Run, now: number) => void;
  done: boolean;
  /** The lookup ends here (at the first event from then on: an answer or a timeout). */
  deadline: number;
  /** The other paths of a disjoint lookup (each node is asked by one path only), or null. */
  siblings: Run[] | null;
}

/** One of the disjoint paths of a lookup (Operations.lookup). */
interface DisjointPath {
  index: number;
  of: number;
  shared: Set<string> | null;
  siblings: Run[];
}

/** What publish() takes: the record's fields but last_seen (the time of each publication). */
export type PublishFields = Omit<RecordFields, 'lastSeen' | 'ttl'> & { ttl?: number };

interface Owned {
  fields: Omit<RecordFields, 'lastSeen'>;
  signer: RecordSigner;
  lastSeen: number;
  nextAt: number;
}

function dhtError(reason: string, message: string): PeerError {
  return new PeerError(ErrorCode.DHT_ERROR, message, { reason });
}

export class Operations {
  private readonly ops = new Map<number, Operation>();
  private readonly owned = new Map<string, Owned>();
  private nextId = 1;
  joined = false;
  /** Bootstrap addresses, kept to join again if the routing table ever empties. */
  private seeds: string[] = [];
  private joining = false;

  constructor(private readonly core: DhtCore) {}

  get active(): number {
    return this.ops.size;
  }

  private open(kind: OpKind, now: number, internal = false): Operation {
    if (this.ops.size >= this.core.config.maxOperations) {
      throw dhtError('busy', `${this.ops.size} DHT operations already running`);
    }
    const op: Operation = {
      id: this.nextId++, kind, internal, startedAt: now, rpcs: 0, parts: 0, closest: [], claims: null, published: null,
      stored: 0, failedKeys: 0, error: null,
    };
    this.ops.set(op.id, op);
    return op;
  }

  private close(op: Operation, now: number): void {
    if (!this.ops.delete(op.id)) return;
    if (op.internal) return;
    const found = op.claims ? op.claims.result() : { records: op.published ? [op.published] : [], conflicts: [] };
    this.core.emit({
      op: op.id, kind: op.kind, ok: op.error === null, error: op.error, closest: op.closest, ...found,
      stored: op.stored, rpcs: op.rpcs, startedAt: op.startedAt, finishedAt: now,
    });
  }

  // ---- starting operations -------------------------------------------------------------------

  bootstrap(seeds: string[], now: number, internal = false): number {
    const op = this.open('bootstrap', now, internal);
    if (seeds.length > 0) this.seeds = seeds.slice(0, 16);
    this.joining = true;
    this.run(op, this.core.id, 'nodes', null, false, now, (run, t) => {
      this.joining = false;
      this.nodesResult(run);
      if (run.lookup.answered === 0) return this.close(op, t);
      this.joined = true;
      // The contacts met prove their ids (core.ts) before the join ends and the buckets are
      // refreshed from the table.
      op.parts++;
      this.core.afterProofs(t, (at) => {
        // Kademlia §2.3: refresh every bucket farther than the closest neighbour.
        const nearest = run.lookup.closest()[0];
        const depth = nearest ? commonPrefixLength(this.core.id, nearest.id!) : 0;
        for (let i = 0; i < depth && this.ops.size < this.core.config.maxOperations; i++) this.refresh(i, at);
        this.partDone(op, at);
      });
    }, seeds);
    return op.id;
  }

  findNode(target: Uint8Array, now: number): number {
    assertId(target, 'target');
    const op = this.open('find-node', now);
    this.run(op, target, 'nodes', null, false, now, (run, t) => {
      this.nodesResult(run);
      this.close(op, t);
    });
    return op.id;
  }

  /**
   * The claims on `entityId` (its presence key, or its key for `capability`): the lookup ends
   * early only at a record whose key `bind` says is bound to the name; otherwise it asks the k
   * closest nodes and returns every claim it met (a conflict is then visible to the caller).
   */
  lookup(entityId: string, capability: string | undefined, now: number, bind: BindingCheck = selfCertifyingOnly): number {
    const key = recordKey(entityId, capability ?? '');
    const op = this.open('lookup', now);
    op.claims = new Claims(bind, this.core.config.maxDiscovered);
    // S/Kademlia: `disjointPaths` lookups that never ask the same node; one that meets a bound
    // record ends them all. Nodes that answer only with one another capture one path at most.
    this.disjoint(op, key, 'value', capability ? 'capability' : 'presence', false, now, (runs, t) => {
      const rpcs = runs.reduce((n, r) => n + r.lookup.rpcs, 0);
      const answered = runs.reduce((n, r) => n + r.lookup.answered, 0);
      if (op.claims!.gone(entityId)) op.error = dhtError('gone', `${entityId} has closed (signed tombstone)`);
      else if (op.claims!.result().records.length === 0) op.error = this.valueError(rpcs, answered, `no record for ${entityId}${capability ? ` with ${capability}` : ''}`);
      this.close(op, t);
    });
    return op.id;
  }

  /** Entities offering `capability`, from its provider key, each with its binding. */
  discover(capability: string, now: number, bind: BindingCheck = selfCertifyingOnly): number {
    const key = providerKey(capability);
    const op = this.open('discover', now);
    op.claims = new Claims(bind, this.core.config.maxDiscovered);
    this.run(op, key, 'providers', 'provider', false, now, (run, t) => {
      if (op.claims!.size === 0 && run.lookup.answered === 0) op.error = this.valueError(run.lookup.rpcs, 0, '');
      this.close(op, t);
    });
    return op.id;
  }

  /** Signs and stores a record under all its keys; republished every republishMs until unpublish(). */
  publish(fields: PublishFields, signer: RecordSigner, now: number): number {
    const prev = this.owned.get(fields.entityId);
    if (!prev && this.owned.size >= this.core.config.maxOwnedRecords) {
      throw new PeerError(ErrorCode.DHT_ERROR, `at most ${this.core.config.maxOwnedRecords} published records per node`, { reason: 'busy' });
    }
    const owned: Owned = {
      fields: { ...fields, addresses: [...fields.addresses], capabilities: [...fields.capabilities], ttl: fields.ttl ?? this.core.config.recordTtlS },
      signer, lastSeen: prev ? prev.lastSeen : 0, nextAt: now + this.core.config.republishMs,
    };
    const op = this.storeRecord(owned, now, false);
    this.owned.set(fields.entityId, owned);
    return op.id;
  }

  unpublish(entityId: string): boolean {
    return this.owned.delete(entityId);
  }

  /**
   * Graceful close: stores a signed tombstone (same name, key and capabilities, no address,
   * a newer last_seen) under every key of every record this node publishes, and stops
   * republishing. Returns the operations' ids (each ends like a publish).
   */
  retire(now: number): number[] {
    const ops: number[] = [];
    for (const [entityId, owned] of this.owned) {
      if (this.ops.size >= this.core.config.maxOperations) break;
      this.owned.delete(entityId);
      ops.push(this.storeRecord({ ...owned, fields: { ...owned.fields, addresses: [], tombstone: true } }, now, false).id);
    }
    return ops;
  }

  ping(address: string, now: number): number {
    const op = this.open('ping', now);
    op.parts = 1;
    op.rpcs = 1;
    const settle = (ok: boolean, t: number, id?: Uint8Array): void => {
      if (ok && id) op.closest = [{ id: new Uint8Array(id), address }];
      else op.error = dhtError('timeout', `no answer from ${address}`);
      this.partDone(op, t);
    };
    if (!this.core.pingRequest(address, null, now, { settle })) settle(false, now);
    return op.id;
  }

  private storeRecord(owned: Owned, now: number, internal: boolean): Operation {
    // last_seen strictly increases, so every store takes the new version over the old one.
    const lastSeen = Math.max(Math.floor(now), owned.lastSeen + 1);
    const record = signRecord({ ...owned.fields, lastSeen }, owned.signer);
    const op = this.open('publish', now, internal);
    owned.lastSeen = lastSeen;
    op.published = { ...record, binding: selfCertifyingOnly(record.entityId, record.publicKey) };
    // A guard part, so a lookup that ends at once cannot close the operation before the others start.
    op.parts++;
    // Each key's nodes are looked up over disjoint paths, like a name's value lookup: nodes that
    // answer only with one another capture one path at most, and the others still reach the
    // honest nodes closest to the key, which the k closest of all paths together then are.
    for (const { key } of recordKeys(record)) this.disjoint(op, key, 'nodes', null, true, now, (runs, t) => this.storeAt(op, key, runs, record, t));
    this.partDone(op, now);
    return op;
  }

  /**
   * After the lookups of `key`: STORE to the k closest nodes that answered on any path with a
   * token (and here, if we are one of them).
   */
  private storeAt(op: Operation, key: Uint8Array, runs: Run[], record: DhtRecord, now: number): void {
    const merged = runs.flatMap((r) => r.lookup.closest()).sort((a, b) => compareDistance(a.id!, b.id!, key));
    const closest = firstPerPrefix(merged, this.core.config.k, this.core.config.maxPerPrefix);
    const kth = closest[this.core.config.k - 1];
    // A copy here too when we are among the k closest; it does not count as published.
    if (!kth || compareDistance(this.core.id, kth.id!, key) < 0) this.core.store.put(key, record.bytes, now);
    let stored = 0;
    let left = 1;
    op.parts++;
    const settle = (ok: boolean, t: number): void => {
      if (ok) {
        stored++;
        op.stored++;
      }
      if (--left > 0) return;
      if (stored === 0) op.failedKeys++;
      this.partDone(op, t);
    };
    for (const c of closest) {
      if (!c.token) continue;
      if (!this.core.storeRequest(c.address, c.id!, c.token, key, record.bytes, now, { settle })) continue;
      op.rpcs++;
      left++;
    }
    settle(false, now);
  }

  private partDone(op: Operation, now: number): void {
    if (--op.parts > 0) return;
    if (op.kind === 'publish' && op.failedKeys > 0) {
      op.error = dhtError('not-stored', `${op.failedKeys} key(s) of the record could not be stored on any node`);
    }
    this.close(op, now);
  }

  /** Why a value lookup found nothing: no contacts, nobody answered, or no record exists. */
  private valueError(rpcs: number, answered: number, notFound: string): PeerError {
    if (rpcs === 0) return dhtError('no-contacts', 'the routing table is empty: bootstrap first');
    if (answered === 0) return dhtError('unreachable', 'no node answered');
    return dhtError('not-found', notFound);
  }

  private nodesResult(run: Run): void {
    run.op.closest = run.lookup.closest().map((c) => ({ id: c.id!, address: c.address }));
    if (run.lookup.answered === 0 && run.op.error === null) {
      run.op.error = dhtError(run.lookup.rpcs === 0 ? 'no-contacts' : 'unreachable',
        run.lookup.rpcs === 0 ? 'the routing table is empty: bootstrap first' : 'no node answered');
    }
  }

  private selfLookup(now: number): void {
    const op = this.open('refresh', now, true);
    this.run(op, this.core.id, 'nodes', null, false, now, (_run, t) => this.close(op, t));
  }

  private refresh(bucket: number, now: number): void {
    const op = this.open('refresh', now, true);
    const target = randomIdInBucket(this.core.id, bucket, this.core.random.bytes(32));
    this.run(op, target, 'nodes', null, false, now, (_run, t) => this.close(op, t));
  }

  // ---- lookups ---------------------------------------------------------------------------------

  /**
   * `disjointPaths` lookups of `key` for `op` that never ask the same node (S/Kademlia); `then`
   * gets them all once the last has ended.
   */
  private disjoint(
    op: Operation, key: Uint8Array, mode: LookupMode, kind: KeyKind | null, wantToken: boolean, now: number,
    then: (runs: Run[], now: number) => void,
  ): void {
    const paths = this.core.config.disjointPaths;
    const runs: Run[] = [];
    let left = paths;
    const shared = paths > 1 ? new Set<string>() : null;
    const ended = (_run: Run, t: number): void => {
      if (--left === 0) then(runs, t);
    };
    for (let i = 0; i < paths; i++) {
      runs.push(this.run(op, key, mode, kind, wantToken, now, ended, [], { index: i, of: paths, shared, siblings: runs }));
    }
    for (const r of runs) this.pump(r, now);
  }

  /**
   * Starts one lookup of `key` for `op`. `path` makes it one of `of` disjoint paths: it is
   * seeded with every `of`-th of our k closest contacts and asks no node another path has
   * asked (`shared`); its first requests then go out when the caller pumps it.
   */
  private run(
    op: Operation, key: Uint8Array, mode: LookupMode, kind: KeyKind | null, wantToken: boolean, now: number,
    then: (run: Run, now: number) => void, seeds: string[] = [], path: DisjointPath | null = null,
  ): Run {
    const c = this.core.config;
    const of = path ? path.of : 1;
    const lookup = new Lookup(
      key, mode, this.core.id, c.k, Math.ceil(c.alpha / of), c.maxLookupCandidates, c.maxPerPrefix, Math.ceil(c.maxLookupRequests / of),
      path ? path.shared : null,
    );
    const run: Run = { op, lookup, key, wantToken, kind, then, done: false, deadline: now + c.opDeadlineMs, siblings: path ? path.siblings : null };
    op.parts++;
    for (const s of seeds) lookup.addSeed(s);
    const table = this.core.table;
    const refs = table.closestRefs(key, c.k);
    for (let i = path ? path.index : 0; i < refs.length; i += of) {
      const ct = table.contact(refs[i]!);
      lookup.add(ct.id, 0, ct.address);
    }
    const index = Math.min(table.bucketIndex(key), ID_BITS - 1);
    const b = table.bucket(index);
    if (b) b.lastLookup = now;
    if (kind) for (const bytes of this.core.store.get(key, now)) this.offer(run, bytes, now);
    if (!path) this.pump(run, now);
    return run;
  }

  private pump(run: Run, now: number): void {
    if (run.done) return;
    if (now >= run.deadline) run.lookup.stop();
    for (;;) {
      const batch = run.lookup.next();
      if (batch.length === 0) break;
      for (const cand of batch) {
        run.op.rpcs++;
        const type = run.lookup.mode === 'nodes' ? MSG.FIND_NODE : MSG.FIND_VALUE;
        if (!this.core.findRequest(type, cand.address, cand.id, run.key, run.wantToken, now, { run, cand })) run.lookup.fail(cand);
      }
    }
    if (run.lookup.finished) {
      run.done = true;
      run.then(run, now);
      this.partDone(run.op, now);
    }
  }

  /**
   * A record from a response (or our store): kept if it is valid for the key, live, and not
   * dated beyond the clock skew (a store refuses those too: a requester must not prefer them).
   */
  private offer(run: Run, bytes: Uint8Array, now: number): void {
    let rec: DhtRecord;
    try {
      rec = decodeRecord(bytes, this.core.config.maxRecordBytes);
    } catch {
      this.core.stats.badRecords++;
      return;
    }
    if (
      keyKindFor(rec, run.key) !== run.kind || staleAt(rec) <= now || rec.lastSeen > now + this.core.config.clockSkewMs ||
      !hasValidSignatures(rec)
    ) {
      this.core.stats.badRecords++;
      return;
    }
    for (const s of run.siblings ?? [run]) s.lookup.met = true;
    if (run.op.claims!.offer(rec) || (rec.tombstone && run.op.claims!.gone(rec.entityId))) {
      run.lookup.found = true;
      for (const s of run.siblings ?? []) {
        s.lookup.found = true;
        if (s !== run) this.pump(s, now);
      }
    }
  }

  /** A response settled request `p` (sent by the node `senderId`). */
  answered(p: Pending, m: Message, senderId: Uint8Array, now: number): void {
    if (p.settle) return p.type === MSG.PING ? pingSettle(p, m, senderId, now) : p.settle(m.type === MSG.STORED, now);
    const run = p.run;
    const cand = p.cand;
    if (!run || !cand) return;
    // NODES and VALUE carry contacts (and a token or records); an ERROR (rate limited) carries
    // nothing, but the node is alive, so it still counts as answered.
    if (m.type === MSG.NODES || m.type === MSG.VALUE) {
      run.lookup.addAnswer(m.contacts.bytes, m.contacts.count, this.core.config.maxCandidatesPerAnswer, nextContact);
      if (m.type === MSG.NODES) cand.token = m.token ? new Uint8Array(m.token) : null;
      else if (run.kind) for (const r of m.records) this.offer(run, r, now);
    }
    run.lookup.answer(cand, senderId);
    this.pump(run, now);
  }

  /**
   * Request `p` timed out (or reached another node than the one expected): `atRto` when its RTO
   * passed and its answer is still taken until the hard deadline.
   */
  failed(p: Pending, now: number, atRto = false): void {
    if (p.settle) return p.settle(false, now);
    if (p.run && p.cand) {
      if (atRto) p.run.lookup.fail(p.cand, true);
      else if (p.soft) p.run.lookup.lapsed(p.cand); // its RTO already passed: the candidate may be asked again (a seed) or SLOW
      else p.run.lookup.fail(p.cand);
      this.pump(p.run, now);
    }
  }

  // ---- periodic work ---------------------------------------------------------------------------

  maintain(now: number): void {
    const c = this.core.config;
    // Nobody known (the join failed, or every contact left): join again through the seeds.
    if (this.core.table.size === 0 && this.seeds.length > 0 && !this.joining && this.ops.size < c.maxOperations) {
      this.bootstrap(this.seeds, now, true);
    }
    if (this.joined) {
      // A table smaller than one bucket means we joined a network that was still forming (or
      // lost most contacts): look ourselves up again every period until it has grown.
      if (this.core.table.size < c.k && this.ops.size < c.maxOperations) this.selfLookup(now);
      const deepest = this.core.table.deepest();
      for (let i = 0; i <= deepest && this.ops.size < c.maxOperations; i++) {
        const b = this.core.table.ensureBucket(i, now);
        if (now - b.lastLookup >= c.tRefreshMs) this.refresh(i, now);
      }
    }
    for (const owned of this.owned.values()) {
      if (owned.nextAt > now || this.ops.size >= c.maxOperations) continue;
      owned.nextAt = now + c.republishMs;
      this.storeRecord(owned, now, true);
    }
  }
}

function pingSettle(p: Pending, m: Message, senderId: Uint8Array, now: number): void {
  (p.settle as (ok: boolean, t: number, id?: Uint8Array) => void)(m.type === MSG.PONG, now, senderId);
}
