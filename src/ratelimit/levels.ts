/**
 * The level table: each level's bucket parameters per class (the built-in 'default' and
 * 'unlimited', named levels, and per-peer configurations), and which level a peer is at: its
 * setLevel() assignment, else what `levelOf` answers, else the default.
 */
import {
  DEFAULT_RATE_LIMITS, RATE_CLASSES, RATE_CLASS_COUNT, RATE_CLASS_INDEX, type BucketLimit, type RateClass,
} from './constants.js';
import { invalid } from './errors.js';

/** A class's limit: a bucket, or no limit at all. */
export type ClassLimit = BucketLimit | 'unlimited';
/** Limits for some classes; the others keep the values of the default level. */
export type ClassLimits = Partial<Record<RateClass, ClassLimit>>;
/** A level (or one peer's own configuration): class limits, or no limit on any class. */
export type LevelLimits = ClassLimits | 'unlimited';

const C = RATE_CLASS_COUNT;
/** Level ids are stored as uint16 in a slot's row. */
const MAX_LEVELS = 0x10000;

/** Validates one class's limit in a configuration, and the class's name. */
function checkLimit(cls: string, l: ClassLimit): void {
  if (!Object.hasOwn(RATE_CLASS_INDEX, cls)) throw invalid(`unknown rate class ${cls}`);
  if (l === 'unlimited') return;
  if (typeof l !== 'object' || l === null
    || !(typeof l.perMinute === 'number' && l.perMinute > 0 && Number.isFinite(l.perMinute))
    || !(typeof l.burst === 'number' && l.burst >= 1 && Number.isFinite(l.burst))) {
    throw invalid(`rate limit for ${cls} needs perMinute > 0 and burst ≥ 1 (finite), or 'unlimited'`, { class: cls });
  }
}

export class LevelTable {
  // ---- per level: C entries each (index level * C + class). Both arrays are replaced when
  // they grow, so the limiter reads them through the table on every take and never keeps them.
  /** ms per token; 0 for an unlimited class. */
  interval = new Float64Array(4 * C);
  /** burst × interval; Infinity for an unlimited class. */
  tolerance = new Float64Array(4 * C);
  private count = 0;
  /** Each level's limits as configured (for limitOf()). */
  private readonly limits: Record<RateClass, ClassLimit>[] = [];
  private readonly ids = new Map<string, number>();
  /** Level ids of per-peer configurations no longer in use. */
  private readonly freeIds: number[] = [];
  /** The base every level's missing classes come from: spec defaults + options.classes. */
  private readonly base: Record<RateClass, ClassLimit>;
  private readonly levelOf: ((peerKey: string) => string | undefined) | undefined;
  /** Levels given with setLevel(): key → level id. Bounded by the caller's configuration. */
  private readonly assigned = new Map<string, number>();
  /** Level ids that belong to one peer (setLevel with limits rather than a name). */
  private readonly privateIds = new Set<number>();

  constructor(
    classes: ClassLimits = {},
    levels: Record<string, LevelLimits> = {},
    levelOf?: (peerKey: string) => string | undefined,
  ) {
    const base = { ...DEFAULT_RATE_LIMITS } as Record<RateClass, ClassLimit>;
    for (const [cls, l] of Object.entries(classes)) {
      checkLimit(cls, l);
      base[cls as RateClass] = l;
    }
    this.base = base;
    this.levelOf = levelOf;
    this.define('default', {});
    this.define('unlimited', 'unlimited');
    for (const [name, limits] of Object.entries(levels)) this.define(name, limits);
  }

  /** Defines or redefines a named level (see RateLimiter.defineLevel()). */
  define(name: string, limits: LevelLimits): void {
    if (typeof name !== 'string') throw invalid('a level name is a string');
    if (name === 'unlimited' && limits !== 'unlimited') throw invalid("the level 'unlimited' is built in and means no limit");
    const merged = this.merge(limits);
    const existing = this.ids.get(name);
    if (existing !== undefined) {
      this.write(existing, merged);
      return;
    }
    const id = this.newId();
    this.write(id, merged);
    this.ids.set(name, id);
  }

  /**
   * Records a peer's setLevel(): a level's name, its own limits (a level of its own, rewritten
   * in place if it has one), or null for none. Returns the level id assigned (undefined: none).
   */
  assign(peerKey: string, level: string | LevelLimits | null): number | undefined {
    const previous = this.assigned.get(peerKey);
    let id: number | undefined;
    if (level === null) {
      id = undefined;
    } else if (typeof level === 'string') {
      id = this.ids.get(level);
      if (id === undefined) throw invalid(`unknown rate-limit level ${level}`, { level });
    } else {
      const merged = this.merge(level);
      id = previous !== undefined && this.privateIds.has(previous) ? previous : this.newId();
      this.write(id, merged);
      this.privateIds.add(id);
    }
    if (previous !== undefined && previous !== id && this.privateIds.has(previous)) {
      this.privateIds.delete(previous);
      this.freeIds.push(previous);
    }
    if (id === undefined) this.assigned.delete(peerKey);
    else this.assigned.set(peerKey, id);
    return id;
  }

  isAssigned(peerKey: string): boolean {
    return this.assigned.has(peerKey);
  }

  /** The id of a named level, or undefined. */
  idOfLevel(name: string): number | undefined {
    return this.ids.get(name);
  }

  /** The level id of a peer whose buckets are created now: assigned, else from `levelOf`, else the default (0). */
  idOfPeer(peerKey: string): number {
    const assigned = this.assigned.get(peerKey);
    if (assigned !== undefined) return assigned;
    if (this.levelOf === undefined) return 0;
    const name = this.levelOf(peerKey);
    if (name === undefined) return 0;
    const id = this.ids.get(name);
    if (id === undefined) throw invalid(`levelOf returned unknown rate-limit level ${name}`, { level: name });
    return id;
  }

  /** A level's name ('(own)' for a per-peer configuration). */
  nameOf(id: number): string {
    if (this.privateIds.has(id)) return '(own)';
    for (const [name, lid] of this.ids) if (lid === id) return name;
    return 'default';
  }

  /** A class's limit at a level, as configured (a copy). */
  limitOf(id: number, cls: RateClass): ClassLimit {
    const l = this.limits[id]![cls];
    return l === 'unlimited' ? l : { perMinute: l.perMinute, burst: l.burst };
  }

  /** A level's interval and tolerance per class, copied (C intervals, then C tolerances). */
  paramsOf(id: number): Float64Array {
    const out = new Float64Array(2 * C);
    out.set(this.interval.subarray(id * C, id * C + C), 0);
    out.set(this.tolerance.subarray(id * C, id * C + C), C);
    return out;
  }

  private newId(): number {
    const reused = this.freeIds.pop();
    if (reused !== undefined) return reused;
    if (this.count >= MAX_LEVELS) throw invalid(`at most ${MAX_LEVELS} levels (named and per peer)`);
    const id = this.count++;
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
        checkLimit(cls, l);
        merged[cls as RateClass] = l;
      }
    }
    return merged;
  }

  private write(id: number, merged: Record<RateClass, ClassLimit>): void {
    this.limits[id] = merged;
    for (const cls of RATE_CLASSES) {
      const l = merged[cls];
      const p = id * C + RATE_CLASS_INDEX[cls];
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
}
