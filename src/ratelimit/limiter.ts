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
 *
 * This file holds the limiter's hot path and its public API. Beside it: levels.ts (each level's
 * parameters, and which level a peer is at), slots.ts (that storage, and eviction) and
 * handle.ts (PeerLimits).
 */
import {
  DEFAULT_CHUNK_COUNTING, DEFAULT_IDLE_MS, DEFAULT_MAX_TRACKED_PEERS, MAX_TRACKED_PEERS_LIMIT,
  RATE_CLASSES, RATE_CLASS_COUNT, type ChunkCounting, type RateClass,
} from './constants.js';
import { invalid, throwIfLimited } from './errors.js';
import { PeerLimits } from './handle.js';
import { LevelTable, type ClassLimit, type ClassLimits, type LevelLimits } from './levels.js';
import { SlotTable } from './slots.js';

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

/**
 * The class's index in the arrays; a switch on interned strings is a few pointer compares.
 * Kept in this module: the hot path calling an imported function measurably costs more.
 */
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

export class RateLimiter {
  readonly maxTrackedPeers: number;
  readonly idleMs: number;
  readonly chunkCounting: ChunkCounting;
  readonly whenFull: 'evict' | 'refuse';

  // `declare`: no class field that would hold undefined until the constructor runs, so V8 sees
  // one type per field and the hot path reads both tables without map checks (a few % a take).
  private declare readonly levels: LevelTable;
  private declare readonly slots: SlotTable;

  // ---- counters (the evictions are counted by the slot table)
  private readonly drops = new Float64Array(C);
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
    this.slots = new SlotTable(max, idleMs, whenFull);
    this.levels = new LevelTable(opts.classes, opts.levels, opts.levelOf);
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
    let slot = this.slots.index.get(peerKey);
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
    if (slot < 0 || this.slots.generation(slot) !== ref.gen || ref.owner !== this) {
      slot = this.resolve(ref, now);
      if (slot < 0) return this.refuseUntracked(cls, now);
    }
    return this.takeAt(slot, cls, now, cost);
  }

  /**
   * PeerLimits.takeRun(): up to `count` takes of one token each at the same `now`, exactly as
   * `count` calls of take(cls, now) would make them (the same arithmetic, one step at a time),
   * stopping before the first that would be refused; returns how many were taken. Nothing is
   * counted as a drop: the caller takes the rest one by one (each refused and counted).
   */
  takeRunRef(ref: PeerLimits, cls: RateClass, now: number, count: number): number {
    let slot = ref.slot;
    if (slot < 0 || this.slots.generation(slot) !== ref.gen || ref.owner !== this) {
      slot = this.resolve(ref, now);
      if (slot < 0) return 0;
    }
    const { slots, levels } = this;
    const c = classIndex(cls);
    const p = slots.level(slot) * C + c;
    const i = slots.tatIndex(slot, c);
    const interval = levels.interval[p]!;
    const tol = levels.tolerance[p]!;
    let tat = slots.tat[i]!;
    let taken = 0;
    while (taken < count) {
      let due = tat - now;
      if (due < 0) due = 0;
      due += interval;
      if (!(due <= tol)) break;
      tat = now + due;
      taken++;
    }
    if (taken > 0) slots.tat[i] = tat;
    return taken;
  }

  private resolve(ref: PeerLimits, now: number): number {
    if (ref.owner !== this) throw invalid('a PeerLimits handle from another RateLimiter');
    const slot = this.slots.index.get(ref.key) ?? this.track(ref.key, now);
    if (slot >= 0) {
      ref.slot = slot;
      ref.gen = this.slots.generation(slot);
    }
    return slot;
  }

  /** The bucket arithmetic of take(), on a tracked slot. */
  private takeAt(slot: number, cls: RateClass, now: number, cost: number): number {
    const { slots, levels } = this;
    const c = classIndex(cls);
    const p = slots.level(slot) * C + c;
    const i = slots.tatIndex(slot, c);
    const tat = slots.tat[i]!;
    // ms until the bucket would be full again after this take; compared as a duration (not as
    // absolute times) so that a full bucket allows exactly `burst` whatever the clock's magnitude.
    let due = tat - now;
    if (due < 0) due = 0;
    const interval = levels.interval[p]!;
    const tol = levels.tolerance[p]!;
    due += cost * interval;
    if (due <= tol) {
      slots.tat[i] = now + due;
      return 0;
    }
    return this.refused(c, interval, tol, tat, now, cost);
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
  private refused(c: number, interval: number, tol: number, tat: number, now: number, cost: number): number {
    if (!(cost >= 0) || !Number.isFinite(now) || !Number.isFinite(cost)) {
      throw invalid('take() needs a finite now and a finite cost ≥ 0', { now, cost });
    }
    this.drops[c]!++;
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
    const existing = this.levels.idOfLevel(name);
    const old = existing === undefined ? undefined : this.levels.paramsOf(existing);
    this.levels.define(name, limits);
    if (existing === undefined) return;
    for (const s of this.slots.atLevel(existing)) this.rebucket(s, old!, existing, now);
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
    const slot = this.slots.index.get(peerKey);
    // Read before assign(), which may rewrite the peer's own level in place.
    const old = slot === undefined ? undefined : this.levels.paramsOf(this.slots.level(slot));
    const id = this.levels.assign(peerKey, level);
    if (slot !== undefined) this.rebucket(slot, old!, id ?? this.levels.idOfPeer(peerKey), now);
  }

  /**
   * Asks `levelOf` again for a tracked peer without a setLevel() assignment (what `levelOf`
   * answers has changed, e.g. its key was pinned or unpinned); the buckets move to the new
   * level as with setLevel(). An untracked peer needs nothing: `levelOf` is asked when its
   * buckets are created.
   */
  refreshLevel(peerKey: string, now?: number): void {
    const slot = this.slots.index.get(peerKey);
    if (slot === undefined || this.levels.isAssigned(peerKey)) return;
    const before = this.slots.level(slot);
    const after = this.levels.idOfPeer(peerKey);
    if (after === before) return;
    this.rebucket(slot, this.levels.paramsOf(before), after, now);
  }

  /**
   * Puts a tracked slot, whose buckets were under limits `old`, at level `id`: with `now`, each
   * bucket keeps its tokens (at most the new burst); without, the buckets are full.
   */
  private rebucket(slot: number, old: Float64Array, id: number, now: number | undefined): void {
    const { slots, levels } = this;
    slots.setLevel(slot, id);
    for (let c = 0; c < C; c++) {
      const i = slots.tatIndex(slot, c);
      if (now === undefined || !Number.isFinite(now)) {
        slots.tat[i] = -Infinity;
        continue;
      }
      const oldInterval = old[c]!;
      const tokens = oldInterval === 0 ? Infinity : Math.max(0, (old[C + c]! - Math.max(0, slots.tat[i]! - now)) / oldInterval);
      const interval = levels.interval[id * C + c]!;
      const tol = levels.tolerance[id * C + c]!;
      if (interval === 0 || tokens * interval >= tol) slots.tat[i] = -Infinity;
      else slots.tat[i] = now + tol - tokens * interval;
    }
  }

  /** The level name a peer is at ('(own)' for a per-peer configuration). */
  levelNameOf(peerKey: string): string {
    return this.levels.nameOf(this.levelIdOf(peerKey));
  }

  /** A peer's level id: its slot's if tracked, else the one its buckets would be created at. */
  private levelIdOf(peerKey: string): number {
    const slot = this.slots.index.get(peerKey);
    return slot !== undefined ? this.slots.level(slot) : this.levels.idOfPeer(peerKey);
  }

  // ------------------------------------------------------------------ tracking and eviction

  /** Tracks a new peer; returns its slot, or -1 when refused at the cap ('refuse'). */
  private track(peerKey: string, now: number): number {
    return this.slots.track(peerKey, this.levels.idOfPeer(peerKey), now);
  }

  private refuseUntracked(cls: RateClass, now: number): number {
    this.refusedAtCap++;
    this.drops[classIndex(cls)]!++;
    return this.slots.retryAfterFull(now);
  }

  /**
   * Forgets peers whose buckets have all been full for idleMs, examining at most `maxSlots`
   * slots from where the last sweep stopped (default: all). Each new peer already sweeps a
   * couple of slots, so calling this is optional; it frees memory when no new peers arrive
   * (e.g. from a timer after a flood). Returns the number forgotten.
   */
  sweep(now: number, maxSlots = Infinity): number {
    return this.slots.sweep(now, maxSlots);
  }

  /** Forgets a peer's buckets now (its level assignment, if any, stays). */
  forget(peerKey: string): boolean {
    return this.slots.forget(peerKey);
  }

  // ------------------------------------------------------------------ introspection

  /** Whether a peer's buckets are tracked. */
  has(peerKey: string): boolean {
    return this.slots.index.has(peerKey);
  }

  get tracked(): number {
    return this.slots.tracked;
  }

  /**
   * Tokens a peer's bucket holds at `now` (fractional; Infinity for an unlimited class; the
   * burst for a peer not tracked). Does not track the peer.
   */
  tokens(peerKey: string, cls: RateClass, now: number): number {
    const c = classIndex(cls);
    const slot = this.slots.index.get(peerKey);
    const level = slot !== undefined ? this.slots.level(slot) : this.levels.idOfPeer(peerKey);
    const p = level * C + c;
    const interval = this.levels.interval[p]!;
    if (interval === 0) return Infinity;
    const tat = slot !== undefined ? this.slots.tat[this.slots.tatIndex(slot, c)]! : -Infinity;
    const tol = this.levels.tolerance[p]!;
    return (tol - Math.max(0, tat - now)) / interval;
  }

  /** The limit a peer is under for a class. */
  limitOf(peerKey: string, cls: RateClass): ClassLimit {
    classIndex(cls);
    return this.levels.limitOf(this.levelIdOf(peerKey), cls);
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
      tracked: this.slots.tracked,
      maxTrackedPeers: this.maxTrackedPeers,
      evictedIdle: this.slots.evictedIdle,
      evictedFull: this.slots.evictedFull,
      evictedActive: this.slots.evictedActive,
      refusedAtCap: this.refusedAtCap,
    };
  }
}
