import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, PeerError } from '../../src/errors.js';
import { ReplayWindow, type ReplayVerdict } from '../../src/session/replay-window.js';

const MAX = Number.MAX_SAFE_INTEGER;

function expectPeerError(fn: () => unknown, code: ErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PeerError);
  expect((caught as PeerError).code).toBe(code);
}

/** Verdicts for every seq in [lo, hi], for "state unchanged" comparisons. */
function snapshot(w: ReplayWindow, lo: number, hi: number): ReplayVerdict[] {
  const out: ReplayVerdict[] = [];
  for (let s = Math.max(0, lo); s <= hi; s++) out.push(w.check(s));
  return out;
}

describe('ReplayWindow basics', () => {
  it('defaults to 1024 and starts empty', () => {
    const w = new ReplayWindow();
    expect(w.size).toBe(1024);
    expect(w.highest).toBe(-1);
    expect(w.check(0)).toBe('ok');
    expect(w.check(MAX)).toBe('ok');
  });

  it('accepts first packet 0 once', () => {
    const w = new ReplayWindow();
    w.commit(0);
    expect(w.highest).toBe(0);
    expect(w.check(0)).toBe('replay');
    expect(w.check(1)).toBe('ok');
  });

  it('accepts in-order traffic and slides', () => {
    const w = new ReplayWindow(128);
    for (let s = 0; s < 3000; s++) {
      expect(w.check(s)).toBe('ok');
      w.commit(s);
      expect(w.check(s)).toBe('replay');
    }
    expect(w.highest).toBe(2999);
    expect(w.check(2999 - 127)).toBe('replay');
    expect(w.check(2999 - 128)).toBe('too-old');
  });

  it('accepts out-of-order within the window exactly once', () => {
    const w = new ReplayWindow();
    w.commit(1000);
    for (const s of [999, 5, 500, 1001, 977, 31, 32, 33]) {
      expect(w.check(s)).toBe('ok');
      w.commit(s);
      expect(w.check(s)).toBe('replay');
      expectPeerError(() => w.commit(s), ErrorCode.REPLAY_DETECTED);
    }
    expect(w.highest).toBe(1001);
  });

  it('reports far-left sequences as too-old', () => {
    const w = new ReplayWindow();
    w.commit(1_000_000);
    expect(w.check(0)).toBe('too-old');
    expect(w.check(1_000_000 - 1024)).toBe('too-old');
    expect(w.check(1_000_000 - 1023)).toBe('ok');
    expectPeerError(() => w.commit(0), ErrorCode.REPLAY_DETECTED);
  });

  it('rejects a replayed commit with REPLAY_DETECTED and leaves state unchanged', () => {
    const w = new ReplayWindow(128);
    for (const s of [10, 40, 41, 200, 150]) w.commit(s);
    const before = snapshot(w, 0, 260);
    for (const bad of [40, 200, 150, 72 /* too old: 200 - 128 */, 0]) {
      expectPeerError(() => w.commit(bad), ErrorCode.REPLAY_DETECTED);
    }
    expectPeerError(() => w.commitRun(195, 10), ErrorCode.REPLAY_DETECTED); // 200 inside, 201.. new
    expectPeerError(() => w.commitRun(72, 3), ErrorCode.REPLAY_DETECTED); // starts too old
    expect(w.highest).toBe(200);
    expect(snapshot(w, 0, 260)).toEqual(before);
    try {
      w.commit(150);
    } catch (err) {
      expect((err as PeerError).details).toMatchObject({ reason: 'replay' });
    }
  });
});

describe.each([128, 1024])('ReplayWindow size %i', (size) => {
  it('has an effective width of exactly size at the edge', () => {
    const w = new ReplayWindow(size);
    const h = 50 * size + 17;
    w.commit(h);
    expect(w.check(h - size + 1)).toBe('ok');
    expect(w.check(h - size)).toBe('too-old');
    w.commit(h - size + 1);
    expect(w.check(h - size + 1)).toBe('replay');
    // Filling the whole window is possible: every one of the size slots is distinct.
    for (let s = h - size + 2; s < h; s++) w.commit(s);
    for (let s = h - size + 1; s <= h; s++) expect(w.check(s)).toBe('replay');
    expect(w.check(h + 1)).toBe('ok');
  });

  it('near the start nothing is too old until highest reaches size', () => {
    const w = new ReplayWindow(size);
    w.commit(size - 1);
    expect(w.check(0)).toBe('ok');
    w.commit(0);
    w.commit(size);
    expect(w.check(0)).toBe('too-old');
    expect(w.check(1)).toBe('ok');
  });

  it('a jump shorter than the window keeps the overlap and clears the rest', () => {
    const w = new ReplayWindow(size);
    w.commitRun(0, size); // window full: 0..size-1
    const h = size + size / 2 + 3;
    w.commit(h);
    for (let s = 0; s <= h - size; s++) expect(w.check(s)).toBe('too-old');
    for (let s = h - size + 1; s < size; s++) expect(w.check(s)).toBe('replay');
    for (let s = size; s < h; s++) expect(w.check(s)).toBe('ok');
    expect(w.check(h)).toBe('replay');
  });

  it('a jump longer than the window leaves every old bit outside it', () => {
    for (const jump of [size + 1, size + 5, size + 32, 2 * size + 7, 1e12]) {
      const w = new ReplayWindow(size);
      w.commitRun(0, size); // fills every ring slot
      const h = size - 1 + jump;
      w.commit(h);
      // The whole window except h itself is unseen, although the ring slots were reused.
      for (let s = h - size + 1; s < h; s++) expect(w.check(s)).toBe(s <= size - 1 ? 'replay' : 'ok');
      expect(w.check(h)).toBe('replay');
      expect(w.check(h - size)).toBe('too-old');
    }
  });

  it('runs across word boundaries set exactly their bits', () => {
    const w = new ReplayWindow(size);
    w.commitRun(30, 5); // 30..34 spans words 0 and 1
    expect(w.highest).toBe(34);
    expect(w.check(29)).toBe('ok');
    expect(w.check(35)).toBe('ok');
    for (let s = 30; s <= 34; s++) expect(w.check(s)).toBe('replay');
    expect(w.checkRun(28, 3)).toBe('replay');
    expect(w.checkRun(0, 30)).toBe('ok');
    expect(w.checkRun(35, 1000)).toBe('ok');
    expect(w.checkRun(34, 1000)).toBe('replay');
    w.commitRun(63, 66); // 63..128 spans words 1..4
    for (let s = 63; s <= 128; s++) expect(w.check(s)).toBe('replay');
    expect(w.check(62)).toBe('ok');
    expect(w.check(129)).toBe('ok');
    w.commitRun(1, 29); // 0 is too old for size 128 (highest 128)
    expect(w.checkRun(1, 35)).toBe('replay');
    expect(w.check(0)).toBe(size === 128 ? 'too-old' : 'ok');
  });

  it('a run longer than the window advances it', () => {
    const w = new ReplayWindow(size);
    w.commit(3);
    w.commitRun(10, 5 * size);
    const last = 10 + 5 * size - 1;
    expect(w.highest).toBe(last);
    for (let s = last - size + 1; s <= last; s++) expect(w.check(s)).toBe('replay');
    expect(w.check(last - size)).toBe('too-old');
    expect(w.check(last + 1)).toBe('ok');
  });

  it('runs of up to 2^32 - 1 cost O(words), not O(count)', () => {
    const w = new ReplayWindow(size);
    const count = 2 ** 32 - 1;
    const t0 = performance.now();
    let first = 7;
    for (let i = 0; i < 1000; i++) {
      expect(w.checkRun(first, count)).toBe('ok');
      w.commitRun(first, count);
      first += count;
    }
    expect(performance.now() - t0).toBeLessThan(2000);
    const last = first - 1;
    expect(w.highest).toBe(last);
    expect(w.check(last - size + 1)).toBe('replay');
    expect(w.check(last - size)).toBe('too-old');
    expect(w.checkRun(last - 5, count)).toBe('replay');
    expect(w.checkRun(last + 1, count)).toBe('ok');
  });

  it('works up to 2^53 - 1', () => {
    const w = new ReplayWindow(size);
    w.commit(MAX - 3 * size);
    w.commitRun(MAX - 9, 10);
    expect(w.highest).toBe(MAX);
    for (let s = MAX - 9; s <= MAX; s++) expect(w.check(s)).toBe('replay');
    expect(w.check(MAX - 10)).toBe('ok');
    expect(w.check(MAX - size + 1)).toBe('ok');
    expect(w.check(MAX - size)).toBe('too-old');
    w.commit(MAX - size + 1);
    expect(w.check(MAX - size + 1)).toBe('replay');
    expectPeerError(() => w.commit(MAX), ErrorCode.REPLAY_DETECTED);
    expectPeerError(() => w.checkRun(MAX, 2), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('ReplayWindow argument validation', () => {
  it('rejects bad sizes', () => {
    for (const size of [0, 1, 32, 64, 100, 129, 1000, 1536, 1.5, -1024, NaN, Infinity, 2 ** 25, '1024' as unknown as number]) {
      expectPeerError(() => new ReplayWindow(size), ErrorCode.INVALID_ARGUMENT);
    }
    for (const size of [128, 256, 1024, 4096, 2 ** 24]) expect(new ReplayWindow(size).size).toBe(size);
  });

  it('rejects bad sequence numbers and counts', () => {
    const w = new ReplayWindow();
    const bad = [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, MAX + 2, '3' as unknown as number];
    for (const seq of bad) {
      expectPeerError(() => w.check(seq), ErrorCode.INVALID_ARGUMENT);
      expectPeerError(() => w.commit(seq), ErrorCode.INVALID_ARGUMENT);
      expectPeerError(() => w.checkRun(seq, 1), ErrorCode.INVALID_ARGUMENT);
      expectPeerError(() => w.commitRun(seq, 1), ErrorCode.INVALID_ARGUMENT);
    }
    for (const count of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) {
      expectPeerError(() => w.checkRun(0, count), ErrorCode.INVALID_ARGUMENT);
      expectPeerError(() => w.commitRun(0, count), ErrorCode.INVALID_ARGUMENT);
    }
    expectPeerError(() => w.commitRun(MAX - 1, 3), ErrorCode.INVALID_ARGUMENT);
    expect(w.checkRun(MAX - 1, 2)).toBe('ok');
    expect(w.highest).toBe(-1);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the window agrees with a model that remembers every committed seq in a Set.

class Model {
  readonly seen = new Set<number>();
  highest = -1;
  constructor(readonly size: number) {}
  verdict(first: number, last: number): ReplayVerdict {
    if (first <= this.highest - this.size) return 'too-old';
    for (let s = first; s <= Math.min(last, this.highest); s++) if (this.seen.has(s)) return 'replay';
    return 'ok';
  }
  commit(first: number, last: number): void {
    for (let s = first; s <= last; s++) this.seen.add(s);
    this.highest = Math.max(this.highest, last);
  }
}

type Where =
  | { kind: 'near'; offset: number } // relative to highest, mostly inside/just around the window
  | { kind: 'dup'; pick: number } // a seq committed earlier
  | { kind: 'jump'; offset: number }; // far to the right
type Op = { action: 'check' | 'commit' | 'checkRun' | 'commitRun'; where: Where; count: number };

function opArb(size: number): fc.Arbitrary<Op> {
  const where: fc.Arbitrary<Where> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('near' as const), offset: fc.integer({ min: -size - 40, max: 40 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('dup' as const), pick: fc.nat() }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('jump' as const),
        offset: fc.oneof(fc.integer({ min: 41, max: 3 * size }), fc.integer({ min: 1, max: 2 ** 40 })),
      }),
    },
  );
  const count = fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 70 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 * size + 64 }) },
  );
  return fc.record({ action: fc.constantFrom('check', 'commit', 'checkRun', 'commitRun'), where, count });
}

function runOps(size: number, start: number, ops: Op[]): void {
  const w = new ReplayWindow(size);
  const m = new Model(size);
  const history: number[] = [];
  for (const op of ops) {
    const base = Math.max(m.highest, start);
    let seq: number;
    if (op.where.kind === 'dup') {
      if (history.length === 0) continue;
      seq = history[op.where.pick % history.length]!;
    } else {
      seq = Math.min(MAX, Math.max(0, base + op.where.offset));
    }
    const run = op.action === 'checkRun' || op.action === 'commitRun';
    const count = run ? Math.min(op.count, MAX - seq + 1) : 1;
    const last = seq + count - 1;
    const expected = m.verdict(seq, last);
    const got = op.action === 'check' ? w.check(seq) : w.checkRun(seq, count);
    expect(got).toBe(expected);
    if (op.action === 'commit' || op.action === 'commitRun') {
      if (expected === 'ok') {
        if (run) w.commitRun(seq, count);
        else w.commit(seq);
        m.commit(seq, last);
        history.push(seq, last);
      } else {
        expectPeerError(() => (run ? w.commitRun(seq, count) : w.commit(seq)), ErrorCode.REPLAY_DETECTED);
      }
    }
    expect(w.highest).toBe(m.highest);
  }
  // Full sweep across and around the final window.
  if (m.highest >= 0) {
    for (let s = Math.max(0, m.highest - size - 40); s <= Math.min(MAX, m.highest + 40); s++) {
      expect(w.check(s)).toBe(m.verdict(s, s));
    }
  }
}

describe.each([128, 1024])('ReplayWindow model property, size %i', (size) => {
  const starts: [string, fc.Arbitrary<number>][] = [
    ['from 0', fc.constant(0)],
    ['from a random start', fc.integer({ min: 0, max: 2 ** 48 })],
    ['near 2^53 - 1', fc.integer({ min: MAX - 4 * size, max: MAX })],
  ];
  it.each(starts)('agrees with the Set model %s', (_name, start) => {
    fc.assert(
      fc.property(start, fc.array(opArb(size), { minLength: 1, maxLength: 60 }), (s, ops) => {
        runOps(size, s, ops);
      }),
      { numRuns: size === 128 ? 300 : 120 },
    );
  });
});
