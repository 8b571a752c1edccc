/**
 * Seeded, time-bounded fuzzing for the decoders: every target gets hostile inputs (mutations of
 * valid encodings and random bytes) and may only return or throw a PeerError with a known code.
 *
 * Reproducing: every run prints its seed; `PEERCOMM_FUZZ_SEED=<seed> npx vitest run test/fuzz`
 * replays the same inputs (each target derives its own stream from the seed and its name), and
 * a failure report also gives fast-check's `path` to jump to the failing case. `PEERCOMM_FUZZ_MS`
 * sets the time per target (default 1500 ms); `PEERCOMM_FUZZ_VERBOSE=1` prints how many inputs each ran.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ErrorCode, PeerError } from '../../src/errors.js';

function seedFromEnv(): number {
  const given = process.env.PEERCOMM_FUZZ_SEED;
  if (given === undefined || given === '') return Math.floor(Math.random() * 0x7fffffff);
  const n = Number(given);
  if (!Number.isInteger(n)) throw new Error(`PEERCOMM_FUZZ_SEED must be an integer, got ${given}`);
  return n | 0;
}

export const FUZZ_SEED = seedFromEnv();
export const FUZZ_MS = Number(process.env.PEERCOMM_FUZZ_MS ?? 1500);
/** A test timeout for one fuzz target: its time plus room for set-up and a shrinking failure. */
export const FUZZ_TIMEOUT_MS = FUZZ_MS + 60_000;
/**
 * One input taking this long is a hang, not slowness: the largest input is a few KiB, which any
 * decoder here handles in well under a millisecond.
 */
const HANG_MS = 2000;

console.log(`fuzz seed ${FUZZ_SEED} (reproduce with PEERCOMM_FUZZ_SEED=${FUZZ_SEED})`);

/** The seed of one target: the run's seed mixed with the target's name (FNV-1a). */
export function seedFor(name: string): number {
  let h = 0x811c9dc5 ^ FUZZ_SEED;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** The spec's codes (and ours): nothing else may name an error, whatever a peer sends. */
export const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** Fails unless `err` is a PeerError with one of the spec's codes (a TypeError, RangeError, ... is a bug). */
export function assertPeerError(err: unknown): asserts err is PeerError {
  if (!(err instanceof PeerError)) throw new Error(`not a PeerError: ${err instanceof Error ? err.stack : String(err)}`);
  if (!KNOWN_CODES.has(err.code)) throw new Error(`PeerError with unknown code ${String(err.code)}`);
}

/** Runs `f`; a PeerError is an allowed outcome, anything else thrown fails, and so does a hang. */
export function onlyPeerError<T>(f: () => T): T | PeerError {
  const t0 = performance.now();
  let out: T | PeerError;
  try {
    out = f();
  } catch (err) {
    assertPeerError(err);
    tally(err.code);
    out = err;
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS) throw new Error(`one input took ${ms.toFixed(0)} ms: a hang`);
  return out;
}

/**
 * Checks `property` for FUZZ_MS (or `ms`) with the target's seed; fails with fast-check's report
 * (seed, path, shrunk counterexample) on the first input it rejects. `minRuns` guards against a
 * fuzzer that silently ran (almost) nothing.
 */
/** Outcomes seen by the current target (printed with PEERCOMM_FUZZ_VERBOSE): shows what the inputs reached. */
const outcomes = new Map<string, number>();
export function tally(outcome: string): void {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

export function fuzz<T>(name: string, arb: fc.Arbitrary<T>, property: (input: T) => void, opts: { ms?: number; minRuns?: number } = {}): void {
  const details = fc.check(fc.property(arb, (input) => {
    property(input);
  }), { seed: seedFor(name), numRuns: 1e9, interruptAfterTimeLimit: opts.ms ?? FUZZ_MS });
  report(name, details, opts);
}

/** Fails with fast-check's report on a counterexample; prints the outcomes (verbose); checks the run count. */
function report<T>(name: string, details: fc.RunDetails<T>, opts: { ms?: number; minRuns?: number }): void {
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.stack : String(details.errorInstance);
    throw new Error(`${name}: ${fc.defaultReportMessage(details)}\n${cause}\n(run seed ${FUZZ_SEED})`);
  }
  if (process.env.PEERCOMM_FUZZ_VERBOSE) {
    const seen = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`${name}: ${details.numRuns} inputs${seen ? `; ${seen}` : ''}`);
  }
  outcomes.clear();
  expect(details.numRuns, `${name}: runs in ${opts.ms ?? FUZZ_MS} ms`).toBeGreaterThanOrEqual(opts.minRuns ?? 50);
}

/** fuzz() for a property that runs asynchronously (sessions over streams). */
export async function fuzzAsync<T>(name: string, arb: fc.Arbitrary<T>, property: (input: T) => Promise<void>, opts: { ms?: number; minRuns?: number } = {}): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, async (input) => {
    await property(input);
  }), { seed: seedFor(name), numRuns: 1e9, interruptAfterTimeLimit: opts.ms ?? FUZZ_MS });
  report(name, details, opts);
}

// ---- hostile inputs --------------------------------------------------------------------------

/** Values a length, count or sequence field is most likely to mishandle. */
const EDGES = [0, 1, 2, 3, 4, 5, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
const BIG_EDGES = [2n ** 32n, 2n ** 52n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'delete'; at: number; n: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'field'; at: number; width: 1 | 2 | 4 | 8; value: bigint }
  | { op: 'splice'; at: number; other: number; from: number }
  | { op: 'repeat'; at: number; n: number; times: number };

const position = fc.nat({ max: 0xffff });
const fieldValue = fc.oneof(
  fc.constantFrom(...EDGES.map(BigInt), ...BIG_EDGES),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.nat({ max: 300 }).map(BigInt),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff), fc.nat({ max: 255 })) }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('delete' as const), at: position, n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('field' as const), at: position, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), value: fieldValue }),
  fc.record({ op: fc.constant('splice' as const), at: position, other: fc.nat(), from: position }),
  fc.record({ op: fc.constant('repeat' as const), at: position, n: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 2, max: 8 }) }),
);

/** Applies one mutation (positions wrap around the current length); `corpus` feeds splices. */
export function mutate(input: Uint8Array, m: Mutation, corpus: readonly Uint8Array[] = []): Uint8Array {
  const b = Buffer.from(input);
  const len = b.length;
  const at = len === 0 ? 0 : m.at % (len + 1);
  switch (m.op) {
    case 'flip':
      if (len > 0) b[at % len] = b[at % len]! ^ (1 << m.bit);
      return b;
    case 'set':
      if (len > 0) b[at % len] = m.value;
      return b;
    case 'truncate':
      return b.subarray(0, at);
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    case 'insert':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'field': {
      const out = Buffer.concat([b, Buffer.alloc(Math.max(0, at + m.width - len))]);
      const v = m.value & ((1n << BigInt(8 * m.width)) - 1n);
      for (let i = 0; i < m.width; i++) out[at + i] = Number((v >> BigInt(8 * (m.width - 1 - i))) & 0xffn);
      return out;
    }
    case 'splice': {
      if (corpus.length === 0) return b;
      const other = corpus[m.other % corpus.length]!;
      return Buffer.concat([b.subarray(0, at), other.subarray(other.length === 0 ? 0 : m.from % other.length)]);
    }
    case 'repeat': {
      const piece = b.subarray(at, at + m.n);
      return Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(piece), b.subarray(at + m.n)]);
    }
  }
}

/** 1–5 mutations of one member of `corpus`. */
export function mutated(corpus: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.record({ base: fc.nat(), muts: fc.array(mutation, { minLength: 1, maxLength: 5 }) })
    .map(({ base, muts }) => muts.reduce((b, m) => mutate(b, m, corpus), corpus[base % corpus.length]!));
}

/** What a decoder is fed: mostly mutated valid encodings, some unmodified ones, some random bytes. */
export function hostile(corpus: readonly Uint8Array[], maxRandom = 256): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 8, arbitrary: mutated(corpus) },
    { weight: 1, arbitrary: fc.constantFrom(...corpus) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: maxRandom }) },
  );
}
