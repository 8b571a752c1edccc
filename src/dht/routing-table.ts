/**
 * The routing table: one k-bucket per shared-prefix length with our id (index 0 = the far half
 * of the id space). Contacts are stored compactly, 64 bytes each in one Uint8Array per bucket,
 * because a 10,000-node simulation holds some 200 contacts per node (budget: 40 KB per node).
 *
 * Slot layout: id (32) | address in wire form (19 max) | failures (1) | last seen, unix s (4) |
 * srtt ms (2) | rttvar ms (2) | unused (4). Slot 0 is the least recently seen contact, the last
 * slot the most recent (Kademlia's LRS order).
 */
import { ErrorCode, PeerError } from '../errors.js';
import { addressLength, formatAddress, MAX_ADDRESS_BYTES, sameSubnet } from './address.js';
import { ID_BITS, ID_BYTES } from './constants.js';
import { commonPrefixLength, compareDistance, distancePrefix, idsEqual } from './id.js';

const SLOT = 64;
const ADDR = ID_BYTES;
const FAILS = ADDR + MAX_ADDRESS_BYTES; // 51
const SEEN = FAILS + 1; // 52
const SRTT = SEEN + 4; // 56
const RTTVAR = SRTT + 2; // 58
const U16_MAX = 0xffff;
/** One slot's worth of scratch space for moves (single-threaded, never held across calls). */
const SCRATCH = new Uint8Array(SLOT);

export interface Contact {
  id: Uint8Array;
  address: string;
}

export class Bucket {
  bytes: Uint8Array;
  count = 0;
  /** Last lookup into this bucket's range (ms), for the tRefresh rule. */
  lastLookup: number;
  /** A ping of the least-recently-seen contact is in flight (one at a time). */
  probing = false;

  constructor(capacity: number, now: number) {
    this.bytes = new Uint8Array(capacity * SLOT);
    this.lastLookup = now;
  }

  indexOf(id: Uint8Array): number {
    for (let s = 0; s < this.count; s++) if (idsEqual(id, this.bytes, s * SLOT)) return s;
    return -1;
  }

  id(slot: number): Uint8Array {
    return this.bytes.slice(slot * SLOT, slot * SLOT + ID_BYTES);
  }

  address(slot: number): string {
    return formatAddress(this.bytes, slot * SLOT + ADDR);
  }

  failures(slot: number): number {
    return this.bytes[slot * SLOT + FAILS]!;
  }

  seenSeconds(slot: number): number {
    const o = slot * SLOT + SEEN;
    const b = this.bytes;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  sameAddress(slot: number, addr: Uint8Array): boolean {
    const o = slot * SLOT + ADDR;
    for (let i = 0; i < addr.length; i++) if (this.bytes[o + i] !== addr[i]) return false;
    return true;
  }

  /** srtt and rttvar in ms, or null before the first measurement. */
  rtt(slot: number): [number, number] | null {
    const o = slot * SLOT;
    const b = this.bytes;
    const srtt = (b[o + SRTT]! << 8) | b[o + SRTT + 1]!;
    return srtt === 0 ? null : [srtt, (b[o + RTTVAR]! << 8) | b[o + RTTVAR + 1]!];
  }

  /** Moves a slot to the most-recent end, keeping the others in order. */
  moveToTail(slot: number): number {
    const last = this.count - 1;
    if (slot === last) return slot;
    SCRATCH.set(this.bytes.subarray(slot * SLOT, (slot + 1) * SLOT));
    this.bytes.copyWithin(slot * SLOT, (slot + 1) * SLOT, this.count * SLOT);
    this.bytes.set(SCRATCH, last * SLOT);
    return last;
  }

  removeAt(slot: number): void {
    this.bytes.copyWithin(slot * SLOT, (slot + 1) * SLOT, this.count * SLOT);
    this.count--;
    this.bytes.fill(0, this.count * SLOT, (this.count + 1) * SLOT);
  }

  /** Appends at the most-recent end; grows the buffer up to `k` slots. */
  append(id: Uint8Array, addr: Uint8Array, k: number): number {
    if ((this.count + 1) * SLOT > this.bytes.length) {
      const grown = new Uint8Array(Math.min(k, Math.max(4, this.count * 2)) * SLOT);
      grown.set(this.bytes.subarray(0, this.count * SLOT));
      this.bytes = grown;
    }
    const o = this.count * SLOT;
    this.bytes.set(id, o);
    this.bytes.fill(0, o + ADDR, o + SLOT);
    this.bytes.set(addr, o + ADDR);
    return this.count++;
  }

  markSeen(slot: number, nowMs: number, rttMs: number | undefined): void {
    const o = slot * SLOT;
    const b = this.bytes;
    const s = Math.floor(nowMs / 1000) >>> 0;
    b[o + FAILS] = 0;
    b[o + SEEN] = s >>> 24; b[o + SEEN + 1] = (s >>> 16) & 0xff; b[o + SEEN + 2] = (s >>> 8) & 0xff; b[o + SEEN + 3] = s & 0xff;
    if (rttMs === undefined) return;
    // RFC 6298: srtt ← 7/8 srtt + 1/8 r, rttvar ← 3/4 rttvar + 1/4 |srtt − r|; whole ms, ≥ 1.
    const r = Math.min(U16_MAX, Math.max(1, Math.round(rttMs)));
    const prev = this.rtt(slot);
    let srtt = r;
    let rttvar = Math.max(1, r >> 1);
    if (prev) {
      rttvar = Math.max(1, Math.round(0.75 * prev[1] + 0.25 * Math.abs(prev[0] - r)));
      srtt = Math.max(1, Math.round(0.875 * prev[0] + 0.125 * r));
    }
    b[o + SRTT] = srtt >> 8; b[o + SRTT + 1] = srtt & 0xff;
    b[o + RTTVAR] = Math.min(U16_MAX, rttvar) >> 8; b[o + RTTVAR + 1] = Math.min(U16_MAX, rttvar) & 0xff;
  }

  bumpFailures(slot: number): number {
    const o = slot * SLOT + FAILS;
    this.bytes[o] = Math.min(255, this.bytes[o]! + 1);
    return this.bytes[o]!;
  }
}

export type TouchResult = 'updated' | 'added' | 'replaced' | 'full' | 'subnet-full' | 'self';

export class RoutingTable {
  readonly buckets: (Bucket | undefined)[] = [];
  size = 0;

  /**
   * `maxPerPrefix`: contacts of one subnet (IPv4 /24, IPv6 /64) per bucket and per k-closest set
   * (closestRefs), so one host's many ids fill neither a bucket nor an answer.
   */
  constructor(readonly self: Uint8Array, readonly k: number, private readonly maxFailures: number, private readonly maxPerPrefix = Infinity) {
    if (!Number.isInteger(k) || k < 1 || k > 255) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'k must be 1..255');
  }

  bucketIndex(id: Uint8Array): number {
    return commonPrefixLength(this.self, id);
  }

  bucket(index: number): Bucket | undefined {
    return this.buckets[index];
  }

  /** The bucket for `index`, created (empty) if needed; for lookup bookkeeping. */
  ensureBucket(index: number, now: number): Bucket {
    let b = this.buckets[index];
    if (!b) {
      b = new Bucket(0, now);
      while (this.buckets.length < index) this.buckets.push(undefined);
      this.buckets[index] = b;
    }
    return b;
  }

  /**
   * A message from a contact we know, at the address we know it by: it moves to the
   * most-recent end (Kademlia's update). False if `id` is not in the table at `addr`: then
   * only a proof (a signed PONG from `addr`, core.ts) lets it in, through touch().
   */
  refresh(id: Uint8Array, addr: Uint8Array, now: number, rttMs?: number): boolean {
    const b = this.buckets[this.bucketIndex(id)];
    let slot = b ? b.indexOf(id) : -1;
    if (!b || slot < 0 || !b.sameAddress(slot, addr)) return false;
    slot = b.moveToTail(slot);
    b.markSeen(slot, now, rttMs);
    return true;
  }

  /**
   * Whether a proof from `id` at `addr` could change the table: it is known (it may have
   * moved), or its bucket has room (or a failed contact, or a least-recently-seen contact that
   * may be probed: not probing, not seen within `freshMs`), and its subnet is under the cap
   * there. Asked before sending a PING to prove it, so a full bucket costs no traffic.
   */
  admits(id: Uint8Array, addr: Uint8Array, now: number, freshMs: number): boolean {
    const index = this.bucketIndex(id);
    if (index === ID_BITS) return false;
    const b = this.buckets[index];
    if (!b) return true;
    if (b.indexOf(id) >= 0) return true;
    if (this.subnetCount(b, addr) >= this.maxPerPrefix) return false;
    if (b.count < this.k) return true;
    for (let s = 0; s < b.count; s++) if (b.failures(s) > 0) return true;
    return !b.probing && now - b.seenSeconds(0) * 1000 >= freshMs;
  }

  /**
   * A contact proved `id` from `addr` (it signed our nonce there): Kademlia's bucket update.
   * A known contact moves to the most-recent end, at `addr` (only the key's holder can have
   * signed, so it has moved). A new one is appended if there is room and its subnet holds
   * fewer than maxPerPrefix contacts of the bucket ('subnet-full' otherwise), or replaces a
   * contact that has failed; otherwise 'full', and the caller pings the least recently seen
   * one: a live contact is never evicted by a newcomer (Kademlia's preference for old nodes).
   */
  touch(id: Uint8Array, addr: Uint8Array, now: number, rttMs?: number): TouchResult {
    const index = this.bucketIndex(id);
    if (index === ID_BITS) return 'self';
    const b = this.ensureBucket(index, now);
    let slot = b.indexOf(id);
    if (slot >= 0) {
      if (!b.sameAddress(slot, addr)) {
        b.bytes.set(addr, slot * SLOT + ADDR);
        b.bytes.fill(0, slot * SLOT + ADDR + addr.length, slot * SLOT + FAILS);
      }
      slot = b.moveToTail(slot);
      b.markSeen(slot, now, rttMs);
      return 'updated';
    }
    if (this.subnetCount(b, addr) >= this.maxPerPrefix) return 'subnet-full';
    if (b.count < this.k) {
      b.markSeen(b.append(id, addr, this.k), now, rttMs);
      this.size++;
      return 'added';
    }
    let stale = -1;
    for (let s = 0; s < b.count; s++) if (b.failures(s) > 0 && (stale < 0 || b.failures(s) > b.failures(stale))) stale = s;
    if (stale < 0) return 'full';
    b.removeAt(stale);
    b.markSeen(b.append(id, addr, this.k), now, rttMs);
    return 'replaced';
  }

  private subnetCount(b: Bucket, addr: Uint8Array): number {
    let n = 0;
    for (let s = 0; s < b.count; s++) if (sameSubnet(b.bytes, s * SLOT + ADDR, addr, 0)) n++;
    return n;
  }

  /** A request to `id` timed out: counts the failure, removes the contact after maxFailures. */
  failed(id: Uint8Array): boolean {
    const b = this.buckets[this.bucketIndex(id)];
    const slot = b ? b.indexOf(id) : -1;
    if (!b || slot < 0) return false;
    if (b.bumpFailures(slot) < this.maxFailures) return false;
    b.removeAt(slot);
    this.size--;
    return true;
  }

  remove(id: Uint8Array): boolean {
    const b = this.buckets[this.bucketIndex(id)];
    const slot = b ? b.indexOf(id) : -1;
    if (!b || slot < 0) return false;
    b.removeAt(slot);
    this.size--;
    return true;
  }

  has(id: Uint8Array): boolean {
    const b = this.buckets[this.bucketIndex(id)];
    return b !== undefined && b.indexOf(id) >= 0;
  }

  /** [srtt, rttvar] in ms for a known contact with a measurement, else null. */
  rtt(id: Uint8Array): [number, number] | null {
    const b = this.buckets[this.bucketIndex(id)];
    const slot = b ? b.indexOf(id) : -1;
    return b && slot >= 0 ? b.rtt(slot) : null;
  }

  /**
   * References (bucket << 8 | slot) of the `n` contacts closest to `target`, closest first,
   * taking at most maxPerPrefix of one subnet (the closest of them). With d = the target's
   * bucket: bucket d holds everything closer than 2^(255−d), the deeper buckets come next, then
   * d−1, d−2, …, each group farther than the last; so groups are sorted one at a time and the
   * gathering stops at n.
   */
  closestRefs(target: Uint8Array, n: number, exclude?: Uint8Array): number[] {
    const d = Math.min(this.bucketIndex(target), ID_BITS - 1);
    const out: number[] = [];
    const group: number[] = [];
    this.push(group, d, exclude);
    this.take(out, group, target, n);
    for (let i = d + 1; i < this.buckets.length; i++) this.push(group, i, exclude);
    this.take(out, group, target, n);
    for (let i = d - 1; i >= 0 && out.length < n; i--) {
      this.push(group, i, exclude);
      this.take(out, group, target, n);
    }
    return out;
  }

  /** Moves `group` (sorted by distance first) into `out` up to `n`, under the subnet cap; empties `group`. */
  private take(out: number[], group: number[], target: Uint8Array, n: number): void {
    this.sortByDistance(group, target);
    for (let i = 0; i < group.length && out.length < n; i++) {
      const r = group[i]!;
      const bytes = this.buckets[r >> 8]!.bytes;
      const at = (r & 0xff) * SLOT + ADDR;
      let same = 0;
      for (const o of out) if (sameSubnet(this.buckets[o >> 8]!.bytes, (o & 0xff) * SLOT + ADDR, bytes, at)) same++;
      if (same < this.maxPerPrefix) out.push(r);
    }
    group.length = 0;
  }

  /**
   * Sorts refs by distance to target: each becomes one float64, the distance's leading 45 bits
   * then its index (8 bits), so a native numeric sort does it. Two contacts of one table whose
   * distances agree on 45 bits would share 45 bits with each other (chance 2^-45 per pair);
   * such ties are then put right by a full comparison.
   */
  private sortByDistance(refs: number[], t: Uint8Array): void {
    const n = refs.length;
    if (n < 2) return;
    if (n > 256) {
      refs.sort((x, y) => this.cmpRefs(x, y, t));
      return;
    }
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = refs[i]!;
      keys[i] = distancePrefix(this.buckets[r >> 8]!.bytes, (r & 0xff) * SLOT, t) * 256 + i;
    }
    keys.sort();
    const copy = refs.slice();
    for (let i = 0; i < n; i++) refs[i] = copy[keys[i]! % 256]!;
    for (let i = 1; i < n; i++) {
      if (Math.floor(keys[i]! / 256) !== Math.floor(keys[i - 1]! / 256)) continue;
      // Tie on 45 bits: insertion sort by the full distance from here back.
      for (let j = i; j > 0 && this.cmpRefs(refs[j - 1]!, refs[j]!, t) > 0; j--) [refs[j - 1], refs[j]] = [refs[j]!, refs[j - 1]!];
    }
  }

  private cmpRefs(x: number, y: number, t: Uint8Array): number {
    return compareDistance(this.buckets[x >> 8]!.bytes, this.buckets[y >> 8]!.bytes, t, (x & 0xff) * SLOT, (y & 0xff) * SLOT);
  }

  private push(refs: number[], i: number, exclude: Uint8Array | undefined): void {
    const b = this.buckets[i];
    if (!b) return;
    for (let s = 0; s < b.count; s++) {
      if (exclude && idsEqual(exclude, b.bytes, s * SLOT)) continue;
      refs.push((i << 8) | s);
    }
  }

  /**
   * The contacts `refs` encoded back to back (id, then wire address), stopping before `room`
   * bytes would be exceeded; returns how many fit and the bytes.
   */
  encodeContacts(refs: number[], room: number): [number, Uint8Array] {
    let size = 0;
    let n = 0;
    for (; n < refs.length; n++) {
      const r = refs[n]!;
      const len = ID_BYTES + addressLength(this.buckets[r >> 8]!.bytes[(r & 0xff) * SLOT + ADDR]!);
      if (size + len > room) break;
      size += len;
    }
    const out = new Uint8Array(size);
    for (let i = 0, at = 0; i < n; i++) {
      const r = refs[i]!;
      const b = this.buckets[r >> 8]!.bytes;
      const o = (r & 0xff) * SLOT;
      const len = ID_BYTES + addressLength(b[o + ADDR]!);
      for (let j = 0; j < len; j++) out[at + j] = b[o + j]!;
      at += len;
    }
    return [n, out];
  }

  contact(ref: number): Contact {
    const b = this.buckets[ref >> 8]!;
    return { id: b.id(ref & 0xff), address: b.address(ref & 0xff) };
  }

  closest(target: Uint8Array, n: number): Contact[] {
    return this.closestRefs(target, n).map((r) => this.contact(r));
  }

  /** Every contact, far buckets first (tests, diagnostics). */
  contacts(): Contact[] {
    const out: Contact[] = [];
    this.buckets.forEach((b, i) => {
      if (b) for (let s = 0; s < b.count; s++) out.push(this.contact((i << 8) | s));
    });
    return out;
  }

  /** Index of the deepest non-empty bucket, or −1 when the table is empty. */
  deepest(): number {
    for (let i = this.buckets.length - 1; i >= 0; i--) if (this.buckets[i]?.count) return i;
    return -1;
  }
}
