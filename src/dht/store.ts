/**
 * What a node stores for others, with the acceptance rules of issue 5 and hard bounds.
 *
 * A record is accepted under a key only if: it parses and fits MAX_RECORD_BYTES; the key is one
 * of its own keys (presence, capability or provider key); it is not stale (last_seen + ttl in
 * the past) nor from the future (beyond the clock skew); it is strictly newer than the version
 * held at that key for that entity (identical bytes are "unchanged", not an error); its public
 * key is the one held for the entity unless the old key signed the change; and its signatures
 * verify (checked last: it is the expensive step).
 */
import { ErrorCode, PeerError } from '../errors.js';
import {
  CLOCK_SKEW_MS, MAX_PROVIDERS_PER_KEY, MAX_RECORD_BYTES, MAX_RECORDS_PER_ENTITY, MAX_STORED_RECORDS, T_EXPIRE_MS,
} from './constants.js';
import { compareDistance, distancePrefix, idHex } from './id.js';
import { decodeRecord, hasValidSignatures, keyKindFor, staleAt, type DhtRecord, type KeyKind } from './record.js';

export type RejectReason =
  | 'malformed' | 'oversized' | 'signature' | 'key-changed' | 'not-newer' | 'stale' | 'future'
  | 'wrong-key' | 'full' | 'entity-full';

export type PutResult = { ok: true; status: 'stored' | 'unchanged' } | { ok: false; reason: RejectReason };

/** The PeerError code a rejection maps to (also used for the wire's error codes). */
export const REJECT_CODES: Record<RejectReason, ErrorCode> = {
  malformed: ErrorCode.MALFORMED_FRAME,
  oversized: ErrorCode.FRAME_TOO_LARGE,
  signature: ErrorCode.INVALID_SIGNATURE,
  'key-changed': ErrorCode.INVALID_SIGNATURE,
  'not-newer': ErrorCode.REPLAY_DETECTED,
  stale: ErrorCode.DHT_ERROR,
  future: ErrorCode.DHT_ERROR,
  'wrong-key': ErrorCode.DHT_ERROR,
  full: ErrorCode.DHT_ERROR,
  'entity-full': ErrorCode.DHT_ERROR,
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
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  maxStoredRecords: MAX_STORED_RECORDS,
  maxRecordsPerEntity: MAX_RECORDS_PER_ENTITY,
  maxProvidersPerKey: MAX_PROVIDERS_PER_KEY,
  maxRecordBytes: MAX_RECORD_BYTES,
  tExpireMs: T_EXPIRE_MS,
  clockSkewMs: CLOCK_SKEW_MS,
};

interface Stored {
  bytes: Uint8Array;
  entityId: string;
  lastSeen: number;
  expiresAt: number;
}

/**
 * What one key holds. A presence or capability key belongs to one entity, so it holds one
 * record (`one`); a provider key holds up to maxProvidersPerKey (`many`, by entity id).
 * `d` is the leading 45 bits of the key's distance to us, for eviction. Kept small on purpose:
 * a node of a 10,000-node network holds a few of these, a busy one thousands.
 */
interface Slot {
  d: number;
  one: Stored | null;
  many: Map<string, Stored> | null;
}

function held(slot: Slot | undefined, entityId: string): Stored | undefined {
  if (!slot) return undefined;
  if (slot.many) return slot.many.get(entityId);
  return slot.one && slot.one.entityId === entityId ? slot.one : undefined;
}

function entries(slot: Slot): Stored[] {
  return slot.many ? [...slot.many.values()] : slot.one ? [slot.one] : [];
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

export class RecordStore {
  private readonly slots = new Map<string, Slot>();
  /** Per entity held here: its public key (hex) and how many records. */
  private readonly entities = new Map<string, { publicKey: string; count: number }>();
  private total = 0;
  readonly stats: StoreStats = {
    records: 0, keys: 0, entities: 0, accepted: 0, evicted: 0, expired: 0,
    rejected: { malformed: 0, oversized: 0, signature: 0, 'key-changed': 0, 'not-newer': 0, stale: 0, future: 0, 'wrong-key': 0, full: 0, 'entity-full': 0 },
  };

  constructor(private readonly self: Uint8Array, readonly limits: StoreLimits = DEFAULT_STORE_LIMITS) {}

  get size(): number {
    return this.total;
  }

  put(key: Uint8Array, bytes: Uint8Array, now: number): PutResult {
    const r = this.tryPut(key, bytes, now);
    if (r.ok) this.stats.accepted++;
    else this.stats.rejected[r.reason]++;
    this.stats.records = this.total;
    this.stats.keys = this.slots.size;
    this.stats.entities = this.entities.size;
    return r;
  }

  private tryPut(key: Uint8Array, bytes: Uint8Array, now: number): PutResult {
    if (bytes.length > this.limits.maxRecordBytes) return { ok: false, reason: 'oversized' };
    let rec: DhtRecord;
    try {
      rec = decodeRecord(bytes, this.limits.maxRecordBytes);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const kind = keyKindFor(rec, key);
    if (!kind) return { ok: false, reason: 'wrong-key' };
    if (staleAt(rec) <= now) return { ok: false, reason: 'stale' };
    if (rec.lastSeen > now + this.limits.clockSkewMs) return { ok: false, reason: 'future' };
    const hex = idHex(key);
    const slot = this.slots.get(hex);
    const prev = held(slot, rec.entityId);
    if (prev) {
      if (Buffer.compare(prev.bytes, rec.bytes) === 0) return { ok: true, status: 'unchanged' };
      if (rec.lastSeen <= prev.lastSeen) return { ok: false, reason: 'not-newer' };
    }
    const pk = idHex(rec.publicKey);
    const entity = this.entities.get(rec.entityId);
    if (entity && entity.publicKey !== pk) {
      if (!rec.rotation || idHex(rec.rotation.publicKey) !== entity.publicKey) return { ok: false, reason: 'key-changed' };
    }
    if (!prev && entity && entity.count >= this.limits.maxRecordsPerEntity) return { ok: false, reason: 'entity-full' };
    if (!hasValidSignatures(rec)) return { ok: false, reason: 'signature' };

    const stored: Stored = {
      bytes: rec.bytes, entityId: rec.entityId, lastSeen: rec.lastSeen,
      expiresAt: Math.min(staleAt(rec), now + this.limits.tExpireMs),
    };
    if (prev) {
      if (slot!.many) slot!.many.set(rec.entityId, stored);
      else slot!.one = stored;
    } else {
      if (slot?.many && slot.many.size >= this.limits.maxProvidersPerKey) {
        // A full provider list keeps the most recently refreshed entities: live owners republish.
        let oldest: Stored | null = null;
        for (const s of slot.many.values()) if (!oldest || s.lastSeen < oldest.lastSeen) oldest = s;
        if (!oldest || oldest.lastSeen >= rec.lastSeen) return { ok: false, reason: 'full' };
        this.removeEntry(hex, slot, oldest.entityId);
      }
      if (this.total >= this.limits.maxStoredRecords && !this.evictFarther(key)) return { ok: false, reason: 'full' };
      let s = this.slots.get(hex);
      if (!s) {
        s = { d: distancePrefix(key, 0, this.self), one: null, many: kind === 'provider' ? new Map() : null };
        this.slots.set(hex, s);
      }
      if (s.many) s.many.set(rec.entityId, stored);
      else s.one = stored;
      this.total++;
      const e = this.entities.get(rec.entityId);
      if (e) e.count++;
      else this.entities.set(rec.entityId, { publicKey: pk, count: 1 });
    }
    this.entities.get(rec.entityId)!.publicKey = pk;
    return { ok: true, status: 'stored' };
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
    this.removeEntry(far[0], far[1], entries(far[1])[0]!.entityId);
    this.stats.evicted++;
    return true;
  }

  private removeEntry(hex: string, slot: Slot, entityId: string): void {
    if (slot.many) {
      if (!slot.many.delete(entityId)) return;
      if (slot.many.size === 0) this.slots.delete(hex);
    } else {
      if (!slot.one || slot.one.entityId !== entityId) return;
      slot.one = null;
      this.slots.delete(hex);
    }
    this.total--;
    const e = this.entities.get(entityId);
    if (e && --e.count === 0) this.entities.delete(entityId);
  }

  /** Live record bytes at `key` (an empty array when none). */
  get(key: Uint8Array, now: number): Uint8Array[] {
    const hex = idHex(key);
    const slot = this.slots.get(hex);
    if (!slot) return [];
    const out: Uint8Array[] = [];
    for (const s of entries(slot)) {
      if (s.expiresAt <= now) {
        this.removeEntry(hex, slot, s.entityId);
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
      for (const s of entries(slot)) {
        if (s.expiresAt <= now) {
          this.removeEntry(hex, slot, s.entityId);
          n++;
        }
      }
    }
    this.stats.expired += n;
    this.stats.records = this.total;
    this.stats.keys = this.slots.size;
    this.stats.entities = this.entities.size;
    return n;
  }

  /** Keys held (hex), for diagnostics and tests. */
  keys(): string[] {
    return [...this.slots.keys()];
  }
}
