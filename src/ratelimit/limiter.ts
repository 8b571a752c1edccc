/**
 * Token buckets per (peer, class), sans-I/O: no timers and no clock reads, `now` (ms) is an
 * argument of every call. See docs/RATE_LIMITS.md.
 *
 * Each bucket is one float64, its GCRA "theoretical arrival time" `tat`: the moment at which
 * the bucket will be full again. With `interval` = 60000 / perMinute ms per token and
 * `tolerance` = burst × interval, the bucket holds (tolerance − max(0, tat − now)) / interval
 * tokens; a take of `cost` tokens at `now` is allowed iff
 *
 *     due = max(0, tat − now) + cost × interval   satisfies   due ≤ tolerance,
 *
 * and then `tat = now + due`; otherwise it is refused and the retry-after is due − tolerance
 * (the first moment at which the same take would pass). This is the token bucket itself, not
 * an approximation: same decisions, one number instead of (tokens, last), refill computed from
 * timestamps, and exact arithmetic whenever `now` and 60000 / perMinute are whole ms (all the
 * spec's defaults). A bucket with `tat ≤ now` is full, i.e. indistinguishable from a bucket
 * never used, which is what makes eviction safe.
 *
 * Storage is struct-of-arrays: one `Map<string, slot>` entry per tracked peer key, and per
 * slot a row of six float64 (five tats, then the slot's uint16 level id in the sixth, so one
 * cache line usually serves a take), the key (to delete it from the Map on eviction) and an
 * int32 of free list. Nothing is allocated on the hot path (a tracked peer); a new peer costs one
 * Map insertion, and the arrays grow by doubling up to `maxTrackedPeers`.
 */
import { ErrorCode, PeerError } from '../errors.js';
import {
  DEFAULT_CHUNK_COUNTING, DEFAULT_IDLE_MS, DEFAULT_MAX_TRACKED_PEERS, DEFAULT_RATE_LIMITS,
  EVICTION_SAMPLE, MAX_TRACKED_PEERS_LIMIT, RATE_CLASSES, RATE_CLASS_COUNT, SWEEP_PER_INSERT,
  type BucketLimit, type ChunkCounting, type RateClass,
} from './constants.js';

/** A class's limit: a bucket, or no limit at all. */
export type ClassLimit = BucketLimit | 'unlimited';
/** Limits for some classes; the others keep the values of the default level. */
export type ClassLimits = Partial<Record<RateClass, ClassLimit>>;
/** A level (or one peer's own configuration): class limits, or no limit on any class. */
export type LevelLimits = ClassLimits | 'unlimited';

export interface RateLimiterOptions {
  /** The default level: overrides of the spec's defaults (DEFAULT_RATE_LIMITS). */
  classes?: ClassLimits;
  /**
   * Named levels (e.g. trust levels: 'trusted', 'internal'), each over the default level:
   * classes not given keep the default level's limits. 'default' names the default level.
   */
  levels?: Record<string, LevelLimits>;
  /**
   * The level of a peer not given one with setLevel(): called once when the peer's buckets are
   * created (again if they were evicted); undefined means the default level.
   */
  levelOf?: (peerKey: string) => string | undefined;
  /** Peer keys tracked at once (default 100,000; at most 2^24). */
  maxTrackedPeers?: number;
  /** A peer whose buckets have all been full for this long is forgotten (default 60,000 ms). */
  idleMs?: number;
  /** takeChunk(): charge `chunk` once per chunked message (default) or once per chunk. */
  chunkCounting?: ChunkCounting;
  /**
   * With `maxTrackedPeers` peers tracked and none of the examined ones full, a new peer either
   * takes the slot of the one closest to full ('evict', default: nobody's limit gets stricter)
   * or is refused until one is full ('refuse': key cycling gains nothing, new peers wait).
   */
  whenFull?: 'evict' | 'refuse';
}

export interface RateLimiterStats {
  /** Takes refused, per class (including refusals of untracked peers under 'refuse'). */
  dropped: Record<RateClass, number>;
  droppedTotal: number;
  /** Peer keys tracked now, and the cap. */
  tracked: number;
  maxTrackedPeers: number;
  /** Forgotten by the idle sweep (all buckets full for idleMs). */
  evictedIdle: number;
  /** Replaced at the cap while all their buckets were full: nothing lost. */
  evictedFull: number;
  /** Replaced at the cap while some bucket was not full: that peer's deficit was forgiven. */
  evictedActive: number;
  /** New peers refused at the cap ('refuse'). */
  refusedAtCap: number;
}

const C = RATE_CLASS_COUNT;
/** float64 per slot: C tats and one holding the level id (uint16). */
const ROW = C + 1;
/** uint16 per row, and the level's position in a row, for the uint16 view. */
const LV_STRIDE = ROW * 4;
const LV_OFFSET = C * 4;
/** int32 per row, and the slot generation's position in a row, for the int32 view. */
const GEN_STRIDE = ROW * 2;
const GEN_OFFSET = C * 2 + 1;
const MAX_LEVELS = 0x10000;
const INITIAL_SLOTS = 1024;

function invalid(message: string, details?: Record<string, unknown>): PeerError {
  return new PeerError(ErrorCode.INVALID_ARGUMENT, message, details);
}

/** The class's index in the arrays; a switch on interned strings is a few pointer compares. */
function classIndex(cls: RateClass): number {
  switch (cls) {
    case 'handshake': return 0;
    case 'heartbeat': return 1;
    case 'task': return 2;
    case 'discovery': return 3;
    case 'chunk': return 4;
    default: throw invalid(`unknown rate class ${String(cls)}`);
  }
}

function checkLimit(cls: string, l: ClassLimit): void {
  if (l === 'unlimited') return;
  if (typeof l !== 'object' || l === null
    || !(typeof l.perMinute === 'number' && l.perMinute > 0 && Number.isFinite(l.perMinute))
    || !(typeof l.burst === 'number' && l.burst >= 1 && Number.isFinite(l.burst))) {
    throw invalid(`rate limit for ${cls} needs perMinute > 0 and burst ≥ 1 (finite), or 'unlimited'`, { class: cls });
  }
}

function throwIfLimited(retryAfter: number, cls: RateClass, cost: number): void {
  if (retryAfter === 0) return;
  if (retryAfter === Infinity) {
    throw invalid(`cost ${cost} exceeds the ${cls} burst for this peer: it can never be allowed`, { class: cls, cost });
  }
  throw new PeerError(ErrorCode.RATE_LIMITED, `${cls} rate limit: retry after ${retryAfter} ms`, { retryAfter, class: cls });
}

export class RateLimiter {
  readonly maxTrackedPeers: number;
  readonly idleMs: number;
  readonly chunkCounting: ChunkCounting;
  readonly whenFull: 'evict' | 'refuse';

  // ---- per level: C entries each (index level * C + class)
  /** ms per token; 0 for an unlimited class. */
  private interval = new Float64Array(4 * C);
  /** burst × interval; Infinity for an unlimited class. */
  private tolerance = new Float64Array(4 * C);
  private levelCount = 0;
  /** Each level's limits as configured (for limitOf()). */
  private readonly levelLimits: Record<RateClass, ClassLimit>[] = [];
  private readonly levelIds = new Map<string, number>();
  /** Level ids of per-peer configurations no longer in use. */
  private readonly freeLevels: number[] = [];
  /** The base every level's missing classes come from: spec defaults + options.classes. */
  private readonly base: Record<RateClass, ClassLimit>;
  private readonly levelOf: ((peerKey: string) => string | undefined) | undefined;
  /** Levels given with setLevel(): key → level id. Bounded by the caller's configuration. */
  private readonly assigned = new Map<string, number>();
  /** Level ids that belong to one peer (setLevel with limits rather than a name). */
  private readonly privateLevel = new Set<number>();

  // ---- per slot
  private readonly index = new Map<string, number>();
  private capacity: number;
  /** Slots ever handed out (the high-water mark); slots below it are tracked or free. */
  private used = 0;
  private count = 0;
  /**
   * One row of ROW float64 per slot: each class's tat (ms; -Infinity = full), then the slot's
   * level id as a uint16 in the last float64 (through `lv`, a view of the same memory), so one
   * cache line usually holds everything a take() reads about the peer.
   */
  private tat: Float64Array;
  private lv: Uint16Array;
  /**
   * Each slot's generation (int32 in the row's last float64, next to the level), bumped when
   * the slot is released, so that a PeerLimits handle can tell its slot still belongs to it.
   */
  private gen: Int32Array;
  private keys: (string | undefined)[] = [];
  private free: Int32Array;
  private freeTop = 0;
  /** Clock hands: where the idle sweep and the search for a victim at the cap continue. */
  private hand = 0;
  private evictHand = 0;

  // ---- counters
  private readonly drops = new Float64Array(C);
  private evictedIdle = 0;
  private evictedFull = 0;
  private evictedActive = 0;
  private refusedAtCap = 0;

  constructor(opts: RateLimiterOptions = {}) {
    const max = opts.maxTrackedPeers ?? DEFAULT_MAX_TRACKED_PEERS;
    if (!Number.isInteger(max) || max < 1 || max > MAX_TRACKED_PEERS_LIMIT) {
      throw invalid(`maxTrackedPeers must be an integer in 1..${MAX_TRACKED_PEERS_LIMIT}`, { maxTrackedPeers: max });
    }
    const idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
    if (!(idleMs >= 0 && Number.isFinite(idleMs))) throw invalid('idleMs must be a finite number ≥ 0', { idleMs });
    const chunkCounting = opts.chunkCounting ?? DEFAULT_CHUNK_COUNTING;
    if (chunkCounting !== 'message' && chunkCounting !== 'chunk') throw invalid("chunkCounting must be 'message' or 'chunk'");
    const whenFull = opts.whenFull ?? 'evict';
    if (whenFull !== 'evict' && whenFull !== 'refuse') throw invalid("whenFull must be 'evict' or 'refuse'");
    this.maxTrackedPeers = max;
    this.idleMs = idleMs;
    this.chunkCounting = chunkCounting;
    this.whenFull = whenFull;
    this.levelOf = opts.levelOf;
    this.capacity = Math.min(INITIAL_SLOTS, max);
    this.tat = new Float64Array(this.capacity * ROW);
    this.lv = new Uint16Array(this.tat.buffer);
    this.gen = new Int32Array(this.tat.buffer);
    this.free = new Int32Array(this.capacity);

    const base = { ...DEFAULT_RATE_LIMITS } as Record<RateClass, ClassLimit>;
    for (const [cls, l] of Object.entries(opts.classes ?? {})) {
      classIndex(cls as RateClass);
      checkLimit(cls, l);
      base[cls as RateClass] = l;
    }
    this.base = base;
    this.defineLevel('default', {});
    this.defineLevel('unlimited', 'unlimited');
    for (const [name, limits] of Object.entries(opts.levels ?? {})) this.defineLevel(name, limits);
  }

  // ------------------------------------------------------------------ hot path

  /**
   * Takes `cost` tokens (default 1, must be > 0) from `peerKey`'s bucket of class `cls` at
   * time `now` (ms; any monotonic clock). Returns 0 when allowed; otherwise the take changed
   * nothing, was counted as a drop, and the result is the retry-after: the whole number of ms
   * (≥ 1) after which the same take would be allowed, if nothing else is taken meanwhile
   * (Infinity when `cost` exceeds the class's burst: never). No allocation for a tracked peer,
   * no exception except for invalid arguments.
   */
  take(peerKey: string, cls: RateClass, now: number, cost = 1): number {
    let slot = this.index.get(peerKey);
    if (slot === undefined) {
      slot = this.track(peerKey, now);
      if (slot < 0) return this.refuseUntracked(cls, now);
    }
    return this.takeAt(slot, cls, now, cost);
  }

  /**
   * A handle on one peer's buckets for a caller that keeps per-peer state anyway (a session):
   * its take() skips the Map lookup by key, which for many peers in random order is most of the
   * cost of a check (a few cache misses). Creating it tracks nothing; the handle survives the
   * peer's eviction (it notices and looks the key up again), and holding one pins nothing.
   */
  peer(peerKey: string): PeerLimits {
    return new PeerLimits(this, peerKey);
  }

  /** PeerLimits.take(): take() through a handle. */
  takeRef(ref: PeerLimits, cls: RateClass, now: number, cost = 1): number {
    let slot = ref.slot;
    if (slot < 0 || this.gen[slot * GEN_STRIDE + GEN_OFFSET] !== ref.gen || ref.owner !== this) {
      slot = this.resolve(ref, now);
      if (slot < 0) return this.refuseUntracked(cls, now);
    }
    return this.takeAt(slot, cls, now, cost);
  }

  private resolve(ref: PeerLimits, now: number): number {
    if (ref.owner !== this) throw invalid('a PeerLimits handle from another RateLimiter');
    const slot = this.index.get(ref.key) ?? this.track(ref.key, now);
    if (slot >= 0) {
      ref.slot = slot;
      ref.gen = this.gen[slot * GEN_STRIDE + GEN_OFFSET]!;
    }
    return slot;
  }

  /** The bucket arithmetic of take(), on a tracked slot. */
  private takeAt(slot: number, cls: RateClass, now: number, cost: number): number {
    const c = classIndex(cls);
    const p = this.lv[slot * LV_STRIDE + LV_OFFSET]! * C + c;
    const i = slot * ROW + c;
    const tat = this.tat[i]!;
    // ms until the bucket would be full again after this take; compared as a duration (not as
    // absolute times) so that a full bucket allows exactly `burst` whatever the clock's magnitude.
    let due = tat - now;
    if (due < 0) due = 0;
    due += cost * this.interval[p]!;
    if (due <= this.tolerance[p]!) {
      this.tat[i] = now + due;
      return 0;
    }
    return this.refused(c, p, tat, now, cost);
  }

  /** take() for callers that prefer an exception: PeerError RATE_LIMITED with { retryAfter, class }. */
  check(peerKey: string, cls: RateClass, now: number, cost = 1): void {
    throwIfLimited(this.take(peerKey, cls, now, cost), cls, cost);
  }

  /**
   * One received chunk of a chunked message, against class `chunk`: with chunkCounting
   * 'message' (default) only chunk 0 is charged and the others return 0 without a lookup;
   * with 'chunk' every chunk is. The message's own type class is the caller's to charge, once,
   * when chunk 0 (which carries the type) arrives.
   */
  takeChunk(peerKey: string, chunkIndex: number, now: number): number {
    if (chunkIndex !== 0 && this.chunkCounting === 'message') return 0;
    return this.take(peerKey, 'chunk', now, 1);
  }

  /** The refused path of take(): count it and compute the retry-after. */
  private refused(c: number, p: number, tat: number, now: number, cost: number): number {
    if (!(cost >= 0) || !Number.isFinite(now) || !Number.isFinite(cost)) {
      throw invalid('take() needs a finite now and a finite cost ≥ 0', { now, cost });
    }
    this.drops[c]!++;
    const interval = this.interval[p]!;
    const tol = this.tolerance[p]!;
    if (cost * interval > tol) return Infinity;
    // First t ≥ now at which max(tat − t, 0) + cost × interval ≤ tol: here tat > now and
    // t = tat + cost × interval − tol ≤ tat, so t − now = (tat − now) + cost × interval − tol.
    // Rounded up to a whole ms, then checked with the very expression take() will evaluate, so
    // that floating-point rounding (non-integer intervals) can never make the answer one ms
    // early or late (the rounding error is far below 1 ms: one step either way is enough).
    const need = cost * interval;
    let wait = Math.ceil(tat - now + need - tol);
    if (!(wait >= 1)) wait = 1;
    if (Math.max(tat - (now + wait), 0) + need > tol) {
      wait++;
    } else if (wait > 1 && Math.max(tat - (now + wait - 1), 0) + need <= tol) {
      wait--;
    }
    return wait;
  }

  // ------------------------------------------------------------------ configuration

  /**
   * Defines (or redefines) a named level. Classes not given take the default level's limits as
   * configured at construction (`classes` over the spec's). Peers already at a redefined level
   * follow the new limits at once; see setLevel() for what happens to their buckets.
   */
  defineLevel(name: string, limits: LevelLimits, now?: number): void {
    if (typeof name !== 'string') throw invalid('a level name is a string');
    if (name === 'unlimited' && limits !== 'unlimited') throw invalid("the level 'unlimited' is built in and means no limit");
    const merged = this.merge(limits);
    const existing = this.levelIds.get(name);
    if (existing === undefined) {
      const id = this.newLevelId();
      this.writeLevel(id, merged);
      this.levelIds.set(name, id);
      return;
    }
    const old = this.paramsOf(existing);
    this.writeLevel(existing, merged);
    for (let s = 0; s < this.used; s++) {
      if (this.keys[s] !== undefined && this.lv[s * LV_STRIDE + LV_OFFSET] === existing) this.rebucket(s, old, existing, now);
    }
  }

  /**
   * Sets a peer's level: the name of a level ('unlimited' is built in), its own limits (a
   * per-peer configuration, over the default level), or null to return it to `levelOf` / the
   * default. The assignment persists whether or not the peer is tracked (eviction never loses
   * it); assignments are not bounded by maxTrackedPeers: make them for configured peers only.
   *
   * If the peer is tracked, each bucket keeps its token count, capped at the new burst, and
   * refills at the new rate from `now`; without `now` the buckets start full under the new
   * level (fine before the peer has sent anything, e.g. right after its handshake).
   */
  setLevel(peerKey: string, level: string | LevelLimits | null, now?: number): void {
    const previous = this.assigned.get(peerKey);
    const slot = this.index.get(peerKey);
    const before = slot === undefined ? undefined : this.lv[slot * LV_STRIDE + LV_OFFSET]!;
    const old = before === undefined ? undefined : this.paramsOf(before);
    let id: number | undefined;
    if (level === null) {
      id = undefined;
    } else if (typeof level === 'string') {
      id = this.levelIds.get(level);
      if (id === undefined) throw invalid(`unknown rate-limit level ${level}`, { level });
    } else {
      const merged = this.merge(level);
      // A peer that already has its own level has it rewritten in place.
      id = previous !== undefined && this.privateLevel.has(previous) ? previous : this.newLevelId();
      this.writeLevel(id, merged);
      this.privateLevel.add(id);
    }
    if (previous !== undefined && previous !== id && this.privateLevel.has(previous)) {
      this.privateLevel.delete(previous);
      this.freeLevels.push(previous);
    }
    if (id === undefined) this.assigned.delete(peerKey);
    else this.assigned.set(peerKey, id);
    if (slot !== undefined) {
      const after = id ?? this.resolveLevel(peerKey);
      this.lv[slot * LV_STRIDE + LV_OFFSET] = after;
      this.rebucket(slot, old!, after, now);
    }
  }

  /**
   * Asks `levelOf` again for a tracked peer without a setLevel() assignment (what `levelOf`
   * answers has changed, e.g. its key was pinned or unpinned); the buckets move to the new
   * level as with setLevel(). An untracked peer needs nothing: `levelOf` is asked when its
   * buckets are created.
   */
  refreshLevel(peerKey: string, now?: number): void {
    const slot = this.index.get(peerKey);
    if (slot === undefined || this.assigned.has(peerKey)) return;
    const before = this.lv[slot * LV_STRIDE + LV_OFFSET]!;
    const after = this.resolveLevel(peerKey);
    if (after === before) return;
    const old = this.paramsOf(before);
    this.lv[slot * LV_STRIDE + LV_OFFSET] = after;
    this.rebucket(slot, old, after, now);
  }

  /** A level's interval and tolerance per class, copied (C intervals, then C tolerances). */
  private paramsOf(id: number): Float64Array {
    const out = new Float64Array(2 * C);
    out.set(this.interval.subarray(id * C, id * C + C), 0);
    out.set(this.tolerance.subarray(id * C, id * C + C), C);
    return out;
  }

  /**
   * A tracked slot moved from limits `old` to level `id`: with `now`, each bucket keeps its
   * tokens (at most the new burst); without, the buckets are full.
   */
  private rebucket(slot: number, old: Float64Array, id: number, now: number | undefined): void {
    for (let c = 0; c < C; c++) {
      const i = slot * ROW + c;
      if (now === undefined || !Number.isFinite(now)) {
        this.tat[i] = -Infinity;
        continue;
      }
      const oldInterval = old[c]!;
      const tokens = oldInterval === 0 ? Infinity : Math.max(0, (old[C + c]! - Math.max(0, this.tat[i]! - now)) / oldInterval);
      const interval = this.interval[id * C + c]!;
      const tol = this.tolerance[id * C + c]!;
      if (interval === 0 || tokens * interval >= tol) this.tat[i] = -Infinity;
      else this.tat[i] = now + tol - tokens * interval;
    }
  }

  /** The level name a peer is at ('(own)' for a per-peer configuration). */
  levelNameOf(peerKey: string): string {
    const slot = this.index.get(peerKey);
    const id = slot !== undefined ? this.lv[slot * LV_STRIDE + LV_OFFSET]! : this.resolveLevel(peerKey);
    if (this.privateLevel.has(id)) return '(own)';
    for (const [name, lid] of this.levelIds) if (lid === id) return name;
    return 'default';
  }

  private newLevelId(): number {
    const reused = this.freeLevels.pop();
    if (reused !== undefined) return reused;
    if (this.levelCount >= MAX_LEVELS) throw invalid(`at most ${MAX_LEVELS} levels (named and per peer)`);
    const id = this.levelCount++;
    if (id * C + C > this.interval.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.interval = grow(this.interval);
      this.tolerance = grow(this.tolerance);
    }
    return id;
  }

  /** Validates a level's limits and completes them from the base (spec defaults + `classes`). */
  private merge(limits: LevelLimits): Record<RateClass, ClassLimit> {
    if (limits !== 'unlimited' && (typeof limits !== 'object' || limits === null)) {
      throw invalid("level limits must be an object of class limits or 'unlimited'");
    }
    const merged = { ...this.base };
    if (limits === 'unlimited') {
      for (const cls of RATE_CLASSES) merged[cls] = 'unlimited';
    } else {
      for (const [cls, l] of Object.entries(limits)) {
        classIndex(cls as RateClass);
        checkLimit(cls, l);
        merged[cls as RateClass] = l;
      }
    }
    return merged;
  }

  private writeLevel(id: number, merged: Record<RateClass, ClassLimit>): void {
    this.levelLimits[id] = merged;
    for (const cls of RATE_CLASSES) {
      const l = merged[cls];
      const p = id * C + classIndex(cls);
      if (l === 'unlimited') {
        this.interval[p] = 0;
        this.tolerance[p] = Infinity;
      } else {
        const interval = 60_000 / l.perMinute;
        this.interval[p] = interval;
        this.tolerance[p] = l.burst * interval;
      }
    }
  }

  private resolveLevel(peerKey: string): number {
    const assigned = this.assigned.get(peerKey);
    if (assigned !== undefined) return assigned;
    if (this.levelOf === undefined) return 0;
    const name = this.levelOf(peerKey);
    if (name === undefined) return 0;
    const id = this.levelIds.get(name);
    if (id === undefined) throw invalid(`levelOf returned unknown rate-limit level ${name}`, { level: name });
    return id;
  }

  // ------------------------------------------------------------------ tracking and eviction

  /** Tracks a new peer; returns its slot, or -1 when refused at the cap ('refuse'). */
  private track(peerKey: string, now: number): number {
    const level = this.resolveLevel(peerKey);
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
    this.lv[slot * LV_STRIDE + LV_OFFSET] = level;
    this.count++;
    return slot;
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

  private soonestFull = Infinity;

  private refuseUntracked(cls: RateClass, now: number): number {
    this.refusedAtCap++;
    this.drops[classIndex(cls)]!++;
    return Math.max(1, Math.ceil(this.soonestFull - now));
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

  /**
   * Forgets peers whose buckets have all been full for idleMs, examining at most `maxSlots`
   * slots from where the last sweep stopped (default: all). Each new peer already sweeps a
   * couple of slots, so calling this is optional; it frees memory when no new peers arrive
   * (e.g. from a timer after a flood). Returns the number forgotten.
   */
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

  /** Forgets a peer's buckets now (its level assignment, if any, stays). */
  forget(peerKey: string): boolean {
    const slot = this.index.get(peerKey);
    if (slot === undefined) return false;
    this.release(slot);
    return true;
  }

  // ------------------------------------------------------------------ introspection

  /** Whether a peer's buckets are tracked. */
  has(peerKey: string): boolean {
    return this.index.has(peerKey);
  }

  get tracked(): number {
    return this.count;
  }

  /**
   * Tokens a peer's bucket holds at `now` (fractional; Infinity for an unlimited class; the
   * burst for a peer not tracked). Does not track the peer.
   */
  tokens(peerKey: string, cls: RateClass, now: number): number {
    const c = classIndex(cls);
    const slot = this.index.get(peerKey);
    const level = slot !== undefined ? this.lv[slot * LV_STRIDE + LV_OFFSET]! : this.resolveLevel(peerKey);
    const p = level * C + c;
    const interval = this.interval[p]!;
    if (interval === 0) return Infinity;
    const tat = slot !== undefined ? this.tat[slot * ROW + c]! : -Infinity;
    const tol = this.tolerance[p]!;
    return (tol - Math.max(0, tat - now)) / interval;
  }

  /** The limit a peer is under for a class. */
  limitOf(peerKey: string, cls: RateClass): ClassLimit {
    classIndex(cls);
    const slot = this.index.get(peerKey);
    const level = slot !== undefined ? this.lv[slot * LV_STRIDE + LV_OFFSET]! : this.resolveLevel(peerKey);
    const l = this.levelLimits[level]![cls];
    return l === 'unlimited' ? l : { perMinute: l.perMinute, burst: l.burst };
  }

  stats(): RateLimiterStats {
    const dropped = {} as Record<RateClass, number>;
    let total = 0;
    for (const cls of RATE_CLASSES) {
      const n = this.drops[classIndex(cls)]!;
      dropped[cls] = n;
      total += n;
    }
    return {
      dropped,
      droppedTotal: total,
      tracked: this.count,
      maxTrackedPeers: this.maxTrackedPeers,
      evictedIdle: this.evictedIdle,
      evictedFull: this.evictedFull,
      evictedActive: this.evictedActive,
      refusedAtCap: this.refusedAtCap,
    };
  }
}

/**
 * One peer's buckets, from RateLimiter.peer(key): the same take/check/takeChunk as the limiter
 * without the lookup by key. Keep one per peer (e.g. on its session), not one per message.
 */
export class PeerLimits {
  /** @internal The slot last resolved (-1: not yet) and its generation then. */
  slot = -1;
  /** @internal */
  gen = 0;

  constructor(readonly owner: RateLimiter, readonly key: string) {}

  take(cls: RateClass, now: number, cost = 1): number {
    return this.owner.takeRef(this, cls, now, cost);
  }

  check(cls: RateClass, now: number, cost = 1): void {
    throwIfLimited(this.owner.takeRef(this, cls, now, cost), cls, cost);
  }

  takeChunk(chunkIndex: number, now: number): number {
    if (chunkIndex !== 0 && this.owner.chunkCounting === 'message') return 0;
    return this.owner.takeRef(this, 'chunk', now, 1);
  }

  tokens(cls: RateClass, now: number): number {
    return this.owner.tokens(this.key, cls, now);
  }
}
