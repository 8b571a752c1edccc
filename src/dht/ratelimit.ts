/**
 * The discovery limit of the spec (10 per minute, burst 20) per source *address prefix* (IPv4
 * /32 or /24, IPv6 /64: util/ip.ts), applied to every request before any other work, routing
 * table updates included. Keyed by prefix, not by ip:port: a fresh source port is not a fresh
 * burst. Behind a two-method interface so src/ratelimit's limiter can replace it.
 */
import { randomBytes } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { DISCOVERY_BURST, DISCOVERY_PER_MINUTE, MAX_LIMITER_SOURCES } from './constants.js';

export interface DhtRateLimiter {
  /** True if the source with prefix key `prefix` may make one more request at `now` (and charges it). */
  allow(prefix: string, now: number): boolean;
  /** Forgets sources whose bucket is full again (called periodically). */
  sweep(now: number): void;
}

/**
 * A token bucket per prefix as one number: GCRA's theoretical arrival time (the moment the
 * bucket is full again). A source whose time has passed is equivalent to an unknown one, which
 * is what makes forgetting it safe. Sources sit in fixed slots on a doubly linked list in
 * least-recently-used order (a hit moves its slot to the tail), so at the cap the head is
 * reused in O(1). The slots are found through an open-addressing index of our own (linear
 * probing, backward-shift deletion, a per-instance random hash seed so that sources cannot
 * choose colliding prefixes): a new source at the cap then costs one probe, one deletion and
 * one insertion in flat arrays, about what a known one costs, where a Map's insertion of a new
 * key (with its rehashes as entries come and go) cost several times a lookup.
 *
 * The arrays start small (INITIAL_SLOTS sources) and double as sources arrive, up to
 * maxSources: a node that hears from a few hundred prefixes holds a few KB, not the ~150 KB of
 * a full table (a 10,000-node simulation holds 20,000 of them). Growing rehashes once per
 * doubling (amortised O(1)); at the cap nothing grows, so a new source costs one eviction.
 */
/** Sources the arrays hold before their first doubling. */
const INITIAL_SLOTS = 64;

export class TokenBucketLimiter implements DhtRateLimiter {
  private readonly keys: string[] = [];
  /** Slots allocated (≤ maxSources); the arrays below have this length, the index 4× it. */
  private capacity = 0;
  private hashes = new Int32Array(0);
  private tat = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  /** Open addressing: slot + 1 per position, 0 = empty; at most a quarter full (short probe runs). */
  private index = new Int32Array(0);
  private mask = 0;
  private readonly seed: number;
  /** The seeded hash before masking (kept per slot, so growing the index needs no rehash of keys). */
  private full = new Int32Array(0);
  private head = -1;
  private tail = -1;
  private readonly interval: number;
  private readonly tolerance: number;
  dropped = 0;
  evicted = 0;

  constructor(perMinute = DISCOVERY_PER_MINUTE, burst = DISCOVERY_BURST, private readonly maxSources = MAX_LIMITER_SOURCES) {
    if (!(perMinute > 0) || !(burst >= 1) || !(maxSources >= 1) || !Number.isInteger(maxSources) || maxSources > 1 << 24) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'rate limit needs perMinute > 0, burst ≥ 1, an integer maxSources in [1, 2^24]');
    }
    this.interval = 60_000 / perMinute;
    this.tolerance = burst * this.interval;
    this.seed = randomBytes(4).readInt32LE(0);
    this.grow(Math.min(INITIAL_SLOTS, maxSources));
  }

  /** Reallocates for `capacity` slots (more than held) and re-indexes the sources held. */
  private grow(capacity: number): void {
    const copy = <T extends Int32Array | Float64Array>(a: T, n: T): T => {
      n.set(a);
      return n;
    };
    this.tat = copy(this.tat, new Float64Array(capacity));
    this.prev = copy(this.prev, new Int32Array(capacity));
    this.next = copy(this.next, new Int32Array(capacity));
    this.full = copy(this.full, new Int32Array(capacity));
    this.hashes = new Int32Array(capacity);
    let size = 2;
    while (size < 4 * capacity) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    this.capacity = capacity;
    for (let slot = 0; slot < this.keys.length; slot++) {
      this.hashes[slot] = this.full[slot]! & this.mask;
      this.insert(slot, this.hashes[slot]!);
    }
  }

  get size(): number {
    return this.keys.length;
  }

  allow(prefix: string, now: number): boolean {
    const f = this.hash(prefix);
    let h = f & this.mask;
    let slot = this.find(prefix, h);
    const prev = slot < 0 ? now : this.tat[slot]!;
    const due = Math.max(0, prev - now) + this.interval;
    if (due > this.tolerance) {
      this.dropped++;
      return false;
    }
    if (slot >= 0) {
      this.unlink(slot);
    } else {
      if (this.keys.length < this.maxSources) {
        if (this.keys.length === this.capacity) {
          this.grow(Math.min(2 * this.capacity, this.maxSources));
          h = f & this.mask;
        }
        slot = this.keys.length;
        this.keys.push(prefix);
      } else {
        // The least recently seen source is forgotten (it restarts with a full burst).
        slot = this.head;
        this.unlink(slot);
        this.unindex(slot);
        this.keys[slot] = prefix;
        this.evicted++;
      }
      this.hashes[slot] = h;
      this.full[slot] = f;
      this.insert(slot, h);
    }
    this.tat[slot] = now + due;
    this.append(slot);
    return true;
  }

  /** Forgets sources whose bucket is full again, oldest first (O(forgotten)): they equal unknown ones. */
  sweep(now: number): void {
    // Full buckets are not only at the head, but sources seen long ago are: stop at the first live one.
    while (this.head >= 0 && this.tat[this.head]! <= now) {
      const slot = this.head;
      this.unlink(slot);
      this.unindex(slot);
      // Move the last slot into the hole so slots stay 0..size-1.
      const last = this.keys.length - 1;
      if (slot !== last) {
        const [p, n] = [this.prev[last]!, this.next[last]!];
        this.index[this.position(last)] = slot + 1;
        this.keys[slot] = this.keys[last]!;
        this.hashes[slot] = this.hashes[last]!;
        this.full[slot] = this.full[last]!;
        this.tat[slot] = this.tat[last]!;
        this.prev[slot] = p;
        this.next[slot] = n;
        if (p >= 0) this.next[p] = slot; else this.head = slot;
        if (n >= 0) this.prev[n] = slot; else this.tail = slot;
      }
      this.keys.pop();
    }
  }

  /** FNV-1a over the UTF-16 units from a random seed, then a murmur-style finaliser. */
  private hash(s: string): number {
    let h = this.seed;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** The slot holding `prefix` (whose hash is `h`), or −1. */
  private find(prefix: string, h: number): number {
    const index = this.index;
    for (let i = h; ; i = (i + 1) & this.mask) {
      const e = index[i]!;
      if (e === 0) return -1;
      if (this.hashes[e - 1] === h && this.keys[e - 1] === prefix) return e - 1;
    }
  }

  private insert(slot: number, h: number): void {
    let i = h;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
  }

  /** Where the index names `slot`. */
  private position(slot: number): number {
    let i = this.hashes[slot]!;
    while (this.index[i] !== slot + 1) i = (i + 1) & this.mask;
    return i;
  }

  /** Removes `slot` from the index, shifting later entries of its run back (no tombstones). */
  private unindex(slot: number): void {
    const index = this.index;
    const mask = this.mask;
    let hole = this.position(slot);
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = this.hashes[index[j]! - 1]!;
      // The entry at j may move into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        index[hole] = index[j]!;
        hole = j;
      }
    }
    index[hole] = 0;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p >= 0) this.next[p] = n; else this.head = n;
    if (n >= 0) this.prev[n] = p; else this.tail = p;
  }

  private append(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = -1;
    if (this.tail >= 0) this.next[this.tail] = slot; else this.head = slot;
    this.tail = slot;
  }
}
