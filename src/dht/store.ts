/**
 * What a node stores for others, with the acceptance rules of docs/DHT.md §4.2 and hard bounds.
 *
 * A record is accepted under a key only if: it parses and fits MAX_RECORD_BYTES; the key is one
 * of its own keys (presence, capability or provider key); it is not stale nor from the future
 * (beyond the clock skew); a self-certifying name (agent-<fingerprint>) is signed by its own
 * key; it is strictly newer than the version held for the same entity *and key*; and its
 * signatures verify (checked last: it is the expensive step).
 *
 * Names are not first-come: a human name may be claimed by several keys, each held side by side
 * (at most maxKeysPerName per key, one per source prefix), so the first key a node sees cannot
 * lock the owner out; the requester decides which key it trusts (binding.ts). Every record is
 * charged to the address prefix that stored it (a quota per prefix), and records and provider
 * lists age by *local* arrival time, never by a date the sender signed.
 */
import {
  CLOCK_SKEW_MS, MAX_KEYS_PER_NAME, MAX_PROVIDERS_PER_KEY, MAX_PROVIDERS_PER_SOURCE, MAX_RECORD_BYTES, MAX_RECORDS_PER_ENTITY,
  MAX_RECORDS_PER_SOURCE, MAX_STORED_RECORDS, T_EXPIRE_MS,
} from './constants.js';
import { isSelfCertifyingName, selfCertifies } from './binding.js';
import { compareDistance, distancePrefix, idHex } from './id.js';
import { SecureRandom, type RandomSource } from './random.js';
import { decodeRecord, hasValidSignatures, keyKindFor, staleAt, type DhtRecord } from './record.js';
import { ErrorCode, PeerError } from '../errors.js';

export type RejectReason =
  | 'malformed' | 'oversized' | 'signature' | 'unbound' | 'not-newer' | 'stale' | 'future'
  | 'wrong-key' | 'full' | 'entity-full' | 'quota';

export type PutResult = { ok: true; status: 'stored' | 'unchanged' } | { ok: false; reason: RejectReason };

/** The PeerError code a rejection maps to (also used for the wire's error codes). */
export const REJECT_CODES: Record<RejectReason, ErrorCode> = {
  malformed: ErrorCode.MALFORMED_FRAME,
  oversized: ErrorCode.FRAME_TOO_LARGE,
  signature: ErrorCode.INVALID_SIGNATURE,
  unbound: ErrorCode.INVALID_SIGNATURE,
  'not-newer': ErrorCode.REPLAY_DETECTED,
  stale: ErrorCode.DHT_ERROR,
  future: ErrorCode.DHT_ERROR,
  'wrong-key': ErrorCode.DHT_ERROR,
  full: ErrorCode.DHT_ERROR,
  'entity-full': ErrorCode.DHT_ERROR,
  quota: ErrorCode.DHT_ERROR,
};

export function rejectError(reason: RejectReason, what = 'record'): PeerError {
  return new PeerError(REJECT_CODES[reason], `${what} rejected: ${reason}`, { reason });
}

/** The store's bounds; field names match DhtConfig, so a config can serve as the limits. */
export interface StoreLimits {
  maxStoredRecords: number;
  maxRecordsPerEntity: number;
  maxProvidersPerKey: number;
  maxRecordBytes: number;
  tExpireMs: number;
  clockSkewMs: number;
  maxKeysPerName: number;
  maxRecordsPerSource: number;
  maxProvidersPerSource: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  maxStoredRecords: MAX_STORED_RECORDS,
  maxRecordsPerEntity: MAX_RECORDS_PER_ENTITY,
  maxProvidersPerKey: MAX_PROVIDERS_PER_KEY,
  maxRecordBytes: MAX_RECORD_BYTES,
  tExpireMs: T_EXPIRE_MS,
  clockSkewMs: CLOCK_SKEW_MS,
  maxKeysPerName: MAX_KEYS_PER_NAME,
  maxRecordsPerSource: MAX_RECORDS_PER_SOURCE,
  maxProvidersPerSource: MAX_PROVIDERS_PER_SOURCE,
};

interface Stored {
  bytes: Uint8Array;
  entityId: string;
  /** Public key (hex): an entity's records under different keys are different claims. */
  pk: string;
  lastSeen: number;
  /** Local time it (or its latest version) arrived: provider order and expiry go by this. */
  arrivedAt: number;
  /** Local time this claim (entity and key) first arrived here, kept across its newer versions. */
  since: number;
  expiresAt: number;
  /** Address prefix that stored it ('' for our own copies), charged for it. */
  source: string;
}

/**
 * What one key holds, by `entity id \0 public key`. `d` is the leading 45 bits of the key's
 * distance to us, for eviction. Kept small on purpose: a node of a 10,000-node network holds a
 * few of these, a busy one thousands.
 */
interface Slot {
  d: number;
  provider: boolean;
  entries: Map<string, Stored>;
}

export interface StoreStats {
  records: number;
  keys: number;
  entities: number;
  accepted: number;
  rejected: Record<RejectReason, number>;
  evicted: number;
  expired: number;
}

const claim = (entityId: string, pk: string): string => `${entityId}\0${pk}`;

export class RecordStore {
  private readonly slots = new Map<string, Slot>();
  /** Records held per claim (entity and key) over all keys. */
  private readonly claims = new Map<string, number>();
  /** Records held per source prefix. */
  private readonly sources = new Map<string, number>();
  private total = 0;
  readonly stats: StoreStats = {
    records: 0, keys: 0, entities: 0, accepted: 0, evicted: 0, expired: 0,
    rejected: {
      malformed: 0, oversized: 0, signature: 0, unbound: 0, 'not-newer': 0, stale: 0, future: 0, 'wrong-key': 0, full: 0,
      'entity-full': 0, quota: 0,
    },
  };

  constructor(
    private readonly self: Uint8Array,
    readonly limits: StoreLimits = DEFAULT_STORE_LIMITS,
    private readonly random: RandomSource = new SecureRandom(),
  ) {}

  get size(): number {
    return this.total;
  }

  /** Stores `bytes` under `key`; `source` is the sender's address prefix (omitted for our own copies). */
  put(key: Uint8Array, bytes: Uint8Array, now: number, source = ''): PutResult {
    const r = this.tryPut(key, bytes, now, source);
    if (r.ok) this.stats.accepted++;
    else this.stats.rejected[r.reason]++;
    this.stats.records = this.total;
    this.stats.keys = this.slots.size;
    this.stats.entities = this.claims.size;
    return r;
  }

  private tryPut(key: Uint8Array, bytes: Uint8Array, now: number, source: string): PutResult {
    const L = this.limits;
    if (bytes.length > L.maxRecordBytes) return { ok: false, reason: 'oversized' };
    let rec: DhtRecord;
    try {
      rec = decodeRecord(bytes, L.maxRecordBytes);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const kind = keyKindFor(rec, key);
    if (!kind) return { ok: false, reason: 'wrong-key' };
    if (staleAt(rec) <= now) return { ok: false, reason: 'stale' };
    if (rec.lastSeen > now + L.clockSkewMs) return { ok: false, reason: 'future' };
    if (isSelfCertifyingName(rec.entityId) && !selfCertifies(rec.entityId, rec.publicKey)) return { ok: false, reason: 'unbound' };
    const hex = idHex(key);
    const slot = this.slots.get(hex);
    const pk = idHex(rec.publicKey);
    const id = claim(rec.entityId, pk);
    const prev = slot?.entries.get(id);
    if (prev) {
      if (Buffer.compare(prev.bytes, rec.bytes) === 0) {
        prev.arrivedAt = now;
        return { ok: true, status: 'unchanged' };
      }
      if (rec.lastSeen <= prev.lastSeen) return { ok: false, reason: 'not-newer' };
    }
    // A key rotation signed by a key held here replaces that key's record.
    const rotated = !prev && rec.rotation ? slot?.entries.get(claim(rec.entityId, idHex(rec.rotation.publicKey))) : undefined;
    if (!prev && !rotated && (this.claims.get(id) ?? 0) >= L.maxRecordsPerEntity) return { ok: false, reason: 'entity-full' };
    if (!prev && source !== '' && (this.sources.get(source) ?? 0) >= L.maxRecordsPerSource) return { ok: false, reason: 'quota' };
    if (!hasValidSignatures(rec)) return { ok: false, reason: 'signature' };

    const ttlMs = rec.ttl * 1000;
    const stored: Stored = {
      bytes: rec.bytes, entityId: rec.entityId, pk, lastSeen: rec.lastSeen, arrivedAt: now, since: prev?.since ?? rotated?.since ?? now, source,
      expiresAt: Math.min(staleAt(rec), now + Math.min(ttlMs, L.tExpireMs)),
    };
    if (prev) {
      this.charge(prev.source, -1);
      this.charge(source, 1);
      slot!.entries.set(id, stored);
      return { ok: true, status: 'stored' };
    }
    if (rotated) this.removeEntry(hex, slot!, claim(rotated.entityId, rotated.pk));
    else if (slot && !this.makeRoom(hex, slot, rec.entityId, source)) return { ok: false, reason: 'quota' };
    if (this.total >= L.maxStoredRecords && !this.evictFarther(key)) return { ok: false, reason: 'full' };
    let s = this.slots.get(hex);
    if (!s) {
      s = { d: distancePrefix(key, 0, this.self), provider: kind === 'provider', entries: new Map() };
      this.slots.set(hex, s);
    }
    s.entries.set(id, stored);
    this.total++;
    this.claims.set(id, (this.claims.get(id) ?? 0) + 1);
    this.charge(source, 1);
    return { ok: true, status: 'stored' };
  }

  /**
   * Room in `slot` for a new claim from `source`: a provider list holds maxProvidersPerKey
   * entities, at most maxProvidersPerSource of them from one prefix, and drops its least
   * recently *arrived* one when full (live owners republish; a date the sender signed does not
   * count). A name holds at most maxKeysPerName keys, one per prefix (a second key from a prefix
   * replaces its first). The claim held longest (the incumbent: its owner has kept it alive by
   * republishing since it first arrived) never gives way to a newcomer, whatever the newcomer's
   * prefix: a second key from the incumbent's prefix is refused (false). A full name drops a
   * random one of the others, so an owner whose claim arrives after a squatter's still gets in,
   * and forged claims arriving after the owner's (from however many prefixes) only push out
   * each other.
   */
  private makeRoom(hex: string, slot: Slot, entityId: string, source: string): boolean {
    const L = this.limits;
    const group: Stored[] = [];
    let fromSource: Stored[] = [];
    for (const s of slot.entries.values()) {
      if (!slot.provider && s.entityId !== entityId) continue;
      group.push(s);
      if (source !== '' && s.source === source) fromSource.push(s);
    }
    const cap = slot.provider ? L.maxProvidersPerKey : L.maxKeysPerName;
    const perSource = slot.provider ? L.maxProvidersPerSource : 1;
    // The incumbent of a name: the claim that first arrived earliest.
    const incumbent = slot.provider ? undefined : group.reduce<Stored | undefined>((a, b) => (!a || b.since < a.since ? b : a), undefined);
    let victim: Stored | undefined;
    if (fromSource.length >= perSource) {
      fromSource = fromSource.sort((a, b) => a.arrivedAt - b.arrivedAt);
      victim = fromSource[0];
      if (victim === incumbent) return false;
    } else if (group.length >= cap) {
      if (slot.provider) victim = group.reduce((a, b) => (b.arrivedAt < a.arrivedAt ? b : a));
      else {
        const others = group.filter((s) => s !== incumbent);
        victim = others[this.random.u32() % others.length];
      }
    }
    if (victim) {
      this.removeEntry(hex, slot, claim(victim.entityId, victim.pk));
      this.stats.evicted++;
    }
    return true;
  }

  private charge(source: string, n: number): void {
    if (source === '') return;
    const v = (this.sources.get(source) ?? 0) + n;
    if (v <= 0) this.sources.delete(source);
    else this.sources.set(source, v);
  }

  /** At the record cap: drops one record at the key farthest from us, if `key` is closer. */
  private evictFarther(key: Uint8Array): boolean {
    let far: [string, Slot] | null = null;
    const farther = (a: [string, Slot], b: [string, Slot]): boolean =>
      a[1].d > b[1].d || (a[1].d === b[1].d && compareDistance(Buffer.from(a[0], 'hex'), Buffer.from(b[0], 'hex'), this.self) > 0);
    for (const entry of this.slots) if (!far || farther(entry, far)) far = entry;
    if (!far) return false;
    const d = distancePrefix(key, 0, this.self);
    if (far[1].d < d || (far[1].d === d && compareDistance(Buffer.from(far[0], 'hex'), key, this.self) <= 0)) return false;
    this.removeEntry(far[0], far[1], far[1].entries.keys().next().value as string);
    this.stats.evicted++;
    return true;
  }

  private removeEntry(hex: string, slot: Slot, id: string): void {
    const s = slot.entries.get(id);
    if (!s) return;
    slot.entries.delete(id);
    if (slot.entries.size === 0) this.slots.delete(hex);
    this.total--;
    this.charge(s.source, -1);
    const n = (this.claims.get(id) ?? 1) - 1;
    if (n === 0) this.claims.delete(id);
    else this.claims.set(id, n);
  }

  /** Drops what an entity holds under `hex` signed by `pk` (a verified tombstone). */
  remove(key: Uint8Array, entityId: string, publicKey: Uint8Array): boolean {
    const hex = idHex(key);
    const slot = this.slots.get(hex);
    const id = claim(entityId, idHex(publicKey));
    if (!slot || !slot.entries.has(id)) return false;
    this.removeEntry(hex, slot, id);
    return true;
  }

  /** Live record bytes at `key` (an empty array when none). */
  get(key: Uint8Array, now: number): Uint8Array[] {
    const hex = idHex(key);
    const slot = this.slots.get(hex);
    if (!slot) return [];
    const out: Uint8Array[] = [];
    for (const [id, s] of [...slot.entries]) {
      if (s.expiresAt <= now) {
        this.removeEntry(hex, slot, id);
        this.stats.expired++;
      } else {
        out.push(s.bytes);
      }
    }
    return out;
  }

  /** Drops expired records; returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const [hex, slot] of [...this.slots]) {
      for (const [id, s] of [...slot.entries]) {
        if (s.expiresAt <= now) {
          this.removeEntry(hex, slot, id);
          n++;
        }
      }
    }
    this.stats.expired += n;
    this.stats.records = this.total;
    this.stats.keys = this.slots.size;
    this.stats.entities = this.claims.size;
    return n;
  }

  /** Keys held (hex), for diagnostics and tests. */
  keys(): string[] {
    return [...this.slots.keys()];
  }
}
