/**
 * The slot table: which peer keys are tracked and where, each slot's row (its tats, level id
 * and generation), the free list, and eviction: the idle sweep, and the victim at the cap.
 */
import { EVICTION_SAMPLE, RATE_CLASS_COUNT, SWEEP_PER_INSERT } from './constants.js';

const C = RATE_CLASS_COUNT;
/** float64 per slot: C tats and one holding the level id (uint16) and the generation (int32). */
const ROW = C + 1;
/** uint16 per row, and the level's position in a row, for the uint16 view. */
const LV_STRIDE = ROW * 4;
const LV_OFFSET = C * 4;
/** int32 per row, and the slot generation's position in a row, for the int32 view. */
const GEN_STRIDE = ROW * 2;
const GEN_OFFSET = C * 2 + 1;
const INITIAL_SLOTS = 1024;

export class SlotTable {
  readonly index = new Map<string, number>();
  /**
   * One row of ROW float64 per slot: each class's tat (ms; -Infinity = full), then the slot's
   * level id as a uint16 in the last float64 (through `lv`, a view of the same memory), so one
   * cache line usually holds everything a take() reads about the peer. Replaced when it grows.
   */
  tat: Float64Array;
  private lv: Uint16Array;
  /**
   * Each slot's generation (int32 in the row's last float64, next to the level), bumped when
   * the slot is released, so that a PeerLimits handle can tell its slot still belongs to it.
   */
  private gen: Int32Array;
  private keys: (string | undefined)[] = [];
  private free: Int32Array;
  private freeTop = 0;
  private capacity: number;
  /** Slots ever handed out (the high-water mark); slots below it are tracked or free. */
  private used = 0;
  private count = 0;
  /** Clock hands: where the idle sweep and the search for a victim at the cap continue. */
  private hand = 0;
  private evictHand = 0;
  /** When the soonest to be full of the slots last examined at the cap will be. */
  private soonestFull = Infinity;

  // ---- counters (see RateLimiterStats)
  evictedIdle = 0;
  evictedFull = 0;
  evictedActive = 0;

  constructor(
    private readonly maxTrackedPeers: number,
    private readonly idleMs: number,
    private readonly whenFull: 'evict' | 'refuse',
  ) {
    this.capacity = Math.min(INITIAL_SLOTS, maxTrackedPeers);
    this.tat = new Float64Array(this.capacity * ROW);
    this.lv = new Uint16Array(this.tat.buffer);
    this.gen = new Int32Array(this.tat.buffer);
    this.free = new Int32Array(this.capacity);
  }

  get tracked(): number {
    return this.count;
  }

  /** Where in `tat` the bucket of class index `c` of a slot is. */
  tatIndex(slot: number, c: number): number {
    return slot * ROW + c;
  }

  level(slot: number): number {
    return this.lv[slot * LV_STRIDE + LV_OFFSET]!;
  }

  setLevel(slot: number, id: number): void {
    this.lv[slot * LV_STRIDE + LV_OFFSET] = id;
  }

  generation(slot: number): number {
    return this.gen[slot * GEN_STRIDE + GEN_OFFSET]!;
  }

  /** The tracked slots at level `id`. */
  *atLevel(id: number): Generator<number> {
    for (let s = 0; s < this.used; s++) {
      if (this.keys[s] !== undefined && this.level(s) === id) yield s;
    }
  }

  /** Tracks a new peer at level `level`; returns its slot, or -1 when refused at the cap ('refuse'). */
  track(peerKey: string, level: number, now: number): number {
    this.sweep(now, SWEEP_PER_INSERT);
    let slot: number;
    if (this.freeTop > 0) {
      slot = this.free[--this.freeTop]!;
    } else if (this.used < this.capacity) {
      slot = this.used++;
    } else if (this.capacity < this.maxTrackedPeers) {
      this.grow();
      slot = this.used++;
    } else {
      slot = this.victim(now);
      if (slot < 0) return -1;
      this.release(slot);
      slot = this.free[--this.freeTop]!;
    }
    this.index.set(peerKey, slot);
    this.keys[slot] = peerKey;
    this.tat.fill(-Infinity, slot * ROW, slot * ROW + C);
    this.setLevel(slot, level);
    this.count++;
    return slot;
  }

  /** The retry-after of a new peer refused at the cap: until the soonest examined slot is full. */
  retryAfterFull(now: number): number {
    return Math.max(1, Math.ceil(this.soonestFull - now));
  }

  /** See RateLimiter.sweep(). */
  sweep(now: number, maxSlots = Infinity): number {
    const n = Math.min(maxSlots, this.used);
    let evicted = 0;
    for (let k = 0; k < n; k++) {
      const s = this.hand;
      this.hand = s + 1 >= this.used ? 0 : s + 1;
      if (this.keys[s] !== undefined && this.fullAt(s) + this.idleMs <= now) {
        this.release(s);
        evicted++;
      }
    }
    this.evictedIdle += evicted;
    return evicted;
  }

  forget(peerKey: string): boolean {
    const slot = this.index.get(peerKey);
    if (slot === undefined) return false;
    this.release(slot);
    return true;
  }

  /** When all of a slot's buckets are full: the latest of its tats. */
  private fullAt(slot: number): number {
    const t = this.tat;
    let m = t[slot * ROW]!;
    for (let c = 1; c < C; c++) {
      const v = t[slot * ROW + c]!;
      if (v > m) m = v;
    }
    return m;
  }

  /**
   * At the cap: examines EVICTION_SAMPLE slots from the eviction hand; the first whose buckets
   * are all full is the victim (nothing is lost). Otherwise the one that will be full soonest
   * ('evict'), or none ('refuse': -1; `soonestFull` keeps when a slot will free up).
   * The hand moves one slot per search, so consecutive searches examine a window sliding by
   * one: slots are reused in about the order they were filled (the Map entries and key strings
   * of victims are then near each other in memory), and every slot is examined EVICTION_SAMPLE
   * times before the hand leaves it.
   */
  private victim(now: number): number {
    const used = this.used;
    let best = -1;
    let bestAt = Infinity;
    let s = this.evictHand;
    for (let k = 0; k < EVICTION_SAMPLE; k++) {
      if (this.keys[s] !== undefined) {
        const at = this.fullAt(s);
        if (at <= now) {
          best = s;
          bestAt = at;
          break;
        }
        if (at < bestAt) {
          bestAt = at;
          best = s;
        }
      }
      s = s + 1 >= used ? 0 : s + 1;
    }
    this.evictHand = this.evictHand + 1 >= used ? 0 : this.evictHand + 1;
    if (bestAt <= now) {
      this.evictedFull++;
      return best;
    }
    this.soonestFull = bestAt;
    if (this.whenFull === 'refuse' || best < 0) return -1;
    this.evictedActive++;
    return best;
  }

  private release(slot: number): void {
    const g = slot * GEN_STRIDE + GEN_OFFSET;
    this.gen[g] = (this.gen[g]! + 1) & 0x3fffffff;
    this.index.delete(this.keys[slot]!);
    this.keys[slot] = undefined;
    this.free[this.freeTop++] = slot;
    this.count--;
  }

  private grow(): void {
    const cap = Math.min(this.capacity * 2, this.maxTrackedPeers);
    const tat = new Float64Array(cap * ROW);
    tat.set(this.tat);
    const free = new Int32Array(cap);
    free.set(this.free.subarray(0, this.freeTop));
    this.tat = tat;
    this.lv = new Uint16Array(tat.buffer);
    this.gen = new Int32Array(tat.buffer);
    this.free = free;
    this.capacity = cap;
  }
}
