import { ErrorCode, PeerError } from '../errors.js';

/**
 * Sliding anti-replay window after RFC 6479 ("IPsec Anti-Replay Algorithm without Bit
 * Shifting"). The bitmap is a ring of 32-bit words indexed by (seq / 32) mod words; moving the
 * window right only zeroes the words that newly enter it, never shifts the whole bitmap.
 *
 * Effective width: exactly `size`. With highest H, the sequences H - size + 1 .. H are tracked
 * (accepted once each); seq <= H - size is 'too-old'; anything above H is 'ok'. RFC 6479 keeps
 * one spare word so the word holding H can be partly reused while the oldest word is still live;
 * instead of giving that word up (effective width size - 32) we allocate size + 32 bits.
 */

/** RFC 6479 SIZE_OF_INTEGER / REDUNDANT_BITS: bits per bitmap word (also the spare slack). */
const WORD_BITS = 32;
/** RFC 6479 REDUNDANT_BIT_SHIFTS: log2(WORD_BITS). */
const WORD_SHIFT = 5;
/** RFC 6479 BITMAP_LOC_MASK: low bits of seq that pick the bit inside a word. */
const BIT_MASK = WORD_BITS - 1;
/** Default window width in sequence numbers (bits). */
export const DEFAULT_REPLAY_WINDOW = 1024;
/** Smallest accepted width: four words, so the ring always holds more than the spare word. */
export const MIN_REPLAY_WINDOW = 128;
/** Largest accepted width (2 MiB bitmap); guards against an absurd allocation. */
export const MAX_REPLAY_WINDOW = 2 ** 24;

export type ReplayVerdict = 'ok' | 'replay' | 'too-old';

function assertSeq(seq: number, what: string): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${what} must be a non-negative safe integer`, { [what]: seq });
  }
}

function assertRun(first: number, count: number): void {
  assertSeq(first, 'first');
  // count - 1 <= MAX - first keeps first + count - 1 exact (no rounding above 2^53).
  if (!Number.isSafeInteger(count) || count < 1 || count - 1 > Number.MAX_SAFE_INTEGER - first) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'count must be >= 1 and the run must end below 2^53', { first, count });
  }
}

export class ReplayWindow {
  readonly size: number;
  /**
   * Ring of size/32 + 1 words (RFC 6479 BITMAP_LEN plus its spare word, added on top of `size`).
   * Not a power of two, so the ring index is block % words rather than RFC's & BITMAP_INDEX_MASK.
   */
  private readonly bitmap: Uint32Array;
  private readonly words: number;
  private top = -1;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < MIN_REPLAY_WINDOW || size > MAX_REPLAY_WINDOW || (size & (size - 1)) !== 0) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `replay window size must be a power of two in [${MIN_REPLAY_WINDOW}, ${MAX_REPLAY_WINDOW}]`, { size });
    }
    this.size = size;
    this.words = (size >>> WORD_SHIFT) + 1;
    this.bitmap = new Uint32Array(this.words);
  }

  /** Highest sequence accepted so far, or -1. */
  get highest(): number {
    return this.top;
  }

  /** Check WITHOUT updating. Call before the AEAD tag is verified; commit only after. */
  check(seq: number): ReplayVerdict {
    assertSeq(seq, 'seq');
    return this.verdict(seq, seq);
  }

  /** Same as check for the run [first, first + count). */
  checkRun(first: number, count: number): ReplayVerdict {
    assertRun(first, count);
    return this.verdict(first, first + count - 1);
  }

  /** Marks seq as seen; call only after the record authenticated. */
  commit(seq: number): void {
    assertSeq(seq, 'seq');
    this.commitRange(seq, seq);
  }

  /** Marks [first, first + count) as seen; all-or-nothing. O(words), whatever count is. */
  commitRun(first: number, count: number): void {
    assertRun(first, count);
    this.commitRange(first, first + count - 1);
  }

  /** Verdict for [lo, hi]: too-old if lo is left of the window, replay if any tracked bit is set. */
  private verdict(lo: number, hi: number): ReplayVerdict {
    // highest - size is exact (both safe); when negative nothing can be too old.
    if (lo <= this.top - this.size) return 'too-old';
    if (lo > this.top) return 'ok'; // entirely right of the window: never seen
    // [lo, min(hi, top)] lies inside the window: at most `size` bits, at most words + 1 words.
    return this.scan(lo, Math.min(hi, this.top), false) ? 'replay' : 'ok';
  }

  private commitRange(lo: number, hi: number): void {
    const v = this.verdict(lo, hi);
    if (v !== 'ok') {
      throw new PeerError(ErrorCode.REPLAY_DETECTED, v === 'replay' ? 'sequence already seen' : 'sequence left of the replay window', { first: lo, last: hi, reason: v });
    }
    if (hi > this.top) this.advance(hi);
    // Only bits still inside the (new) window matter; older ones would be 'too-old' anyway.
    this.scan(Math.max(lo, hi - this.size + 1), hi, true);
  }

  /** RFC 6479 window advance: zero the ring words for the blocks after the old highest's. */
  private advance(newTop: number): void {
    const oldBlock = this.top < 0 ? -1 : Math.floor(this.top / WORD_BITS);
    const newBlock = Math.floor(newTop / WORD_BITS);
    const diff = newBlock - oldBlock;
    if (diff >= this.words) {
      this.bitmap.fill(0); // jumped past the whole ring: every old bit is outside the window
    } else {
      for (let b = oldBlock + 1; b <= newBlock; b++) this.bitmap[b % this.words] = 0;
    }
    this.top = newTop;
  }

  /**
   * Walks the words covering [lo, hi] (hi - lo < size, so no ring slot repeats) with one mask per
   * word. set=false: returns whether any bit is set. set=true: sets them all, returns false.
   * Block numbers go up to 2^48, so division and % are used, not >>> and &, for the word part;
   * seq & 31 is exact because ToInt32 keeps the low 32 bits of any safe integer.
   */
  private scan(lo: number, hi: number, set: boolean): boolean {
    const loBlock = Math.floor(lo / WORD_BITS);
    const hiBlock = Math.floor(hi / WORD_BITS);
    const bm = this.bitmap;
    for (let b = loBlock; b <= hiBlock; b++) {
      const s = b === loBlock ? lo & BIT_MASK : 0;
      const e = b === hiBlock ? hi & BIT_MASK : BIT_MASK;
      const mask = (-1 >>> (BIT_MASK - e)) & (-1 << s); // bits s..e inclusive
      const i = b % this.words;
      if (set) bm[i] = bm[i]! | mask;
      else if ((bm[i]! & mask) !== 0) return true;
    }
    return false;
  }
}
