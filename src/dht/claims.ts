/**
 * The records a value or provider lookup gathers, as *claims*: one per (entity id, public key),
 * the newest version of each (a newer tombstone ends the claim). A lookup never takes "the
 * first valid record": two keys claiming one name are a conflict to report, and only a key bound
 * to the name (binding.ts) answers for it.
 */
import type { Binding, BindingCheck } from './binding.js';
import type { DhtRecord } from './record.js';

/** A record with how its name is bound to its key, for this caller. */
export interface ResolvedRecord extends DhtRecord {
  binding: Binding;
}

const pkHex = (r: DhtRecord): string => Buffer.from(r.publicKey.buffer, r.publicKey.byteOffset, 32).toString('hex');

export class Claims {
  private readonly byClaim = new Map<string, ResolvedRecord>();

  constructor(private readonly bind: BindingCheck, private readonly max: number) {}

  get size(): number {
    return this.byClaim.size;
  }

  /** Takes a verified record; returns its binding when it is a new live bound version (a lookup may stop). */
  offer(rec: DhtRecord): ResolvedRecord | null {
    const id = `${rec.entityId}\0${pkHex(rec)}`;
    const held = this.byClaim.get(id);
    if (held && held.lastSeen >= rec.lastSeen) return null;
    if (!held && this.byClaim.size >= this.max) return null;
    const resolved: ResolvedRecord = { ...rec, binding: held ? held.binding : this.bind(rec.entityId, rec.publicKey) };
    this.byClaim.set(id, resolved);
    return resolved.binding !== 'none' && !rec.tombstone ? resolved : null;
  }

  /** True when a bound claim of `entityId` ended with a tombstone (the entity closed). */
  gone(entityId: string): boolean {
    for (const r of this.byClaim.values()) if (r.entityId === entityId && r.tombstone && r.binding !== 'none') return true;
    return false;
  }

  /**
   * Live claims, bound before unbound, newest first. Where an entity has a bound claim, its
   * unbound claims are left out of `records` and listed in `conflicts`.
   */
  result(): { records: ResolvedRecord[]; conflicts: ResolvedRecord[] } {
    const live = [...this.byClaim.values()].filter((r) => !r.tombstone);
    const bound = new Set(live.filter((r) => r.binding !== 'none').map((r) => r.entityId));
    const records: ResolvedRecord[] = [];
    const conflicts: ResolvedRecord[] = [];
    for (const r of live) (r.binding === 'none' && bound.has(r.entityId) ? conflicts : records).push(r);
    records.sort((a, b) => Number(a.binding === 'none') - Number(b.binding === 'none') || b.lastSeen - a.lastSeen);
    return { records, conflicts };
  }
}
