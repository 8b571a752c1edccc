/**
 * The discovery limit of the spec (10 per minute, burst 20) per source *address prefix* (IPv4
 * /32 or /24, IPv6 /64: util/ip.ts), applied to every request before any other work, routing
 * table updates included. Keyed by prefix, not by ip:port: a fresh source port is not a fresh
 * burst. Behind a two-method interface so src/ratelimit's limiter can replace it.
 */
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
 * reused in O(1): a new source costs about what a known one does, however full the table is.
 * (A Map kept in insertion order would not do: V8 leaves deleted entries at its front until a
 * rehash, and finding the first live key walks over all of them.)
 */
export class TokenBucketLimiter implements DhtRateLimiter {
  private readonly slots = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly tat: Float64Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private readonly interval: number;
  private readonly tolerance: number;
  dropped = 0;
  evicted = 0;

  constructor(perMinute = DISCOVERY_PER_MINUTE, burst = DISCOVERY_BURST, private readonly maxSources = MAX_LIMITER_SOURCES) {
    if (!(perMinute > 0) || !(burst >= 1) || !(maxSources >= 1) || !Number.isInteger(maxSources)) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'rate limit needs perMinute > 0, burst ≥ 1, an integer maxSources ≥ 1');
    }
    this.interval = 60_000 / perMinute;
    this.tolerance = burst * this.interval;
    this.tat = new Float64Array(maxSources);
    this.prev = new Int32Array(maxSources);
    this.next = new Int32Array(maxSources);
  }

  get size(): number {
    return this.slots.size;
  }

  allow(prefix: string, now: number): boolean {
    let slot = this.slots.get(prefix);
    const prev = slot === undefined ? now : this.tat[slot]!;
    const due = Math.max(0, prev - now) + this.interval;
    if (due > this.tolerance) {
      this.dropped++;
      return false;
    }
    if (slot !== undefined) {
      this.unlink(slot);
    } else if (this.slots.size < this.maxSources) {
      slot = this.slots.size;
      this.keys.push(prefix);
      this.slots.set(prefix, slot);
    } else {
      // The least recently seen source is forgotten (it restarts with a full burst).
      slot = this.head;
      this.unlink(slot);
      this.slots.delete(this.keys[slot]!);
      this.keys[slot] = prefix;
      this.slots.set(prefix, slot);
      this.evicted++;
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
      this.slots.delete(this.keys[slot]!);
      // Move the last slot into the hole so slots stay 0..size-1.
      const last = this.slots.size;
      if (slot !== last) {
        const key = this.keys[last]!;
        const [p, n] = [this.prev[last]!, this.next[last]!];
        this.keys[slot] = key;
        this.tat[slot] = this.tat[last]!;
        this.prev[slot] = p;
        this.next[slot] = n;
        if (p >= 0) this.next[p] = slot; else this.head = slot;
        if (n >= 0) this.prev[n] = slot; else this.tail = slot;
        this.slots.set(key, slot);
      }
      this.keys.pop();
    }
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
