// Rate-limit checks: ratelimit.RateLimiter.take() against a plain token bucket written here,
// the one most Node code has: one Map<peerKey, { tokens, last }> per class, refilled on each
// check (tokens += elapsed × rate, capped at the burst), with no cap on the number of peers
// and no eviction (except in the flood case, where it evicts the oldest key through a ring of
// keys), so it does less work than the subject. Both get the same stream of (peer, class, now) and the same
// limits; before timing, the case checks that they refuse the same checks.
//
// One call of fn = CHECKS checks. Cases: one hot peer within its limits (every check allowed)
// and over them (most refused); 100k peers in random order, by key and through PeerLimits
// handles (whose reference is bucket objects kept on each session: no Map either); a flood of
// new keys at the cap (reference: the plain Map evicting its oldest key).
//
// `node bench/ratelimit.js` runs these cases alone (full profile; --quick for one round) and
// then measures memory per tracked (peer, class): heapUsed + arrayBuffers after a full GC,
// 100k peers × 5 classes, for the subject and for the reference. `--memory` does only that.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { RATE_CLASSES, RateLimiter } from '../dist/ratelimit/index.js';
import { sink } from './common.js';

const CHECKS = 1000;
const PEERS = 100_000;
const GROUP = 'Rate limits (checks/s, one core)';

/** The reference: a plain token bucket, one Map<string, { tokens, last }> per class. */
export class NaiveLimiter {
  constructor(limits, maxPeers = Infinity) {
    this.maps = {};
    this.perMs = {};
    this.burst = {};
    for (const cls of RATE_CLASSES) {
      this.maps[cls] = new Map();
      this.perMs[cls] = limits[cls].perMinute / 60_000;
      this.burst[cls] = limits[cls].burst;
    }
    this.maxPeers = maxPeers;
    // With a cap: the keys of each class in insertion order in a ring, the oldest evicted
    // (O(1); map.keys().next() would walk over the Map's deleted entries, O(n) at times).
    if (maxPeers !== Infinity) {
      this.ring = {};
      this.head = {};
      for (const cls of RATE_CLASSES) {
        this.ring[cls] = new Array(maxPeers);
        this.head[cls] = 0;
      }
    }
  }

  take(key, cls, now, cost = 1) {
    const map = this.maps[cls];
    let b = map.get(key);
    if (b === undefined) {
      if (this.ring !== undefined) {
        const ring = this.ring[cls];
        const h = this.head[cls];
        if (map.size >= this.maxPeers) map.delete(ring[h]);
        ring[h] = key;
        this.head[cls] = h + 1 === this.maxPeers ? 0 : h + 1;
      }
      b = { tokens: this.burst[cls], last: now };
      map.set(key, b);
    } else {
      b.tokens = Math.min(this.burst[cls], b.tokens + (now - b.last) * this.perMs[cls]);
      b.last = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.ceil((cost - b.tokens) / this.perMs[cls]);
  }
}

const SPEC = {
  handshake: { perMinute: 5, burst: 10 },
  heartbeat: { perMinute: 60, burst: 120 },
  task: { perMinute: 30, burst: 60 },
  discovery: { perMinute: 10, burst: 20 },
  chunk: { perMinute: 120, burst: 240 },
};

/** A deterministic generator, so every run checks the same stream. */
function rng(seed) {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
}

const fingerprint = (r) => Array.from({ length: 8 }, () => Math.floor(r() * 2 ** 32).toString(16).padStart(8, '0')).join('');

/**
 * The reference for the handle case: what plain code keeps on each session instead of a Map,
 * one { tokens, last } object per class, refilled on each check the same way.
 */
export class NaiveSessionBuckets {
  constructor(limits) {
    this.limits = limits;
    this.b = {};
    for (const cls of RATE_CLASSES) this.b[cls] = { tokens: limits[cls].burst, last: -Infinity };
  }

  take(cls, now, cost = 1) {
    const b = this.b[cls];
    const { perMinute, burst } = this.limits[cls];
    const perMs = perMinute / 60_000;
    b.tokens = Math.min(burst, b.tokens + (now - b.last) * perMs);
    b.last = now;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.ceil((cost - b.tokens) / perMs);
  }
}

// The loop that runs CHECKS checks of a stream, compiled afresh for each side (new Function)
// so that each gets call sites of its own: subject and reference both monomorphic, as in a
// real receive path, rather than sharing one polymorphic `take` call. Keyed streams call
// target.take(key, class, now); handle streams call handle.take(class, now).
const loopSource = (call) => `
  return function run(st) {
    let at = st.at;
    let now = st.now;
    let acc = 0;
    for (let k = 0; k < CHECKS; k++) {
      acc += ${call};
      now += dt;
      if (++at === n) at = 0;
    }
    st.at = at;
    st.now = now;
    sink.v ^= acc;
  };`;
const KEYED = loopSource('target.take(keys[at], classes[at], now)');
const HANDLES = loopSource('keys[at].take(classes[at], now)');

const START = 1_790_000_000_000;

/**
 * A stream of checks: per-op classes (cycled), `dt` ms apart; each side brings its own per-op
 * keys (strings, or handles) and target. runner(side) returns run(state): CHECKS checks from
 * where the state's cursor stopped.
 */
function stream(classes, dt, handles = false) {
  const n = classes.length;
  return {
    n,
    fresh: () => ({ at: 0, now: START }),
    runner: (side) => new Function('target', 'keys', 'classes', 'dt', 'n', 'CHECKS', 'sink', handles ? HANDLES : KEYED)(
      side.target, side.keys, classes, dt, n, CHECKS, sink),
    /** The decisions (1 = allowed) of `count` checks from a fresh side, in a plain loop. */
    decisions(side, count) {
      const out = new Uint8Array(count);
      let now = START;
      for (let i = 0; i < count; i++) {
        const at = i % n;
        const r = handles ? side.keys[at].take(classes[at], now) : side.target.take(side.keys[at], classes[at], now);
        out[i] = r === 0 ? 1 : 0;
        now += dt;
      }
      return out;
    },
  };
}

function rateCase({ id, title, quick = false, subjectName = 'peercomm RateLimiter.take(key, class, now)', referenceName, build }) {
  return {
    id,
    group: GROUP,
    title,
    records: CHECKS,
    bytes: 0,
    unit: 'ops',
    quick,
    make() {
      const { s, subject, reference, allowedShare } = build();
      // Same decisions on the same stream. The reference sums fractional tokens in floating
      // point, so at an exact boundary (a token due at that very ms) it can come out a hair
      // short, refuse, and allow one check later instead: a few checks move, the totals agree.
      // (The subject's arithmetic is exact there: test/ratelimit/properties.test.ts.)
      const count = Math.min(200_000, 4 * s.n);
      const a = s.decisions(subject(), count);
      const b = s.decisions(reference(), count);
      let differ = 0;
      let allowedA = 0;
      let allowedB = 0;
      for (let i = 0; i < count; i++) {
        differ += a[i] ^ b[i];
        allowedA += a[i];
        allowedB += b[i];
      }
      assert.ok(differ / count < 0.02 && Math.abs(allowedA - allowedB) / count < 1e-3,
        `${id}: subject and reference differ on ${differ} of ${count} checks, allowed ${allowedA} vs ${allowedB}`);
      if (allowedShare !== undefined) {
        const share = allowedA / count;
        assert.ok(Math.abs(share - allowedShare) < 0.05, `${id}: ${(share * 100).toFixed(1)}% allowed`);
      }
      const sub = subject();
      const ref = reference();
      const ss = s.fresh();
      const rs = s.fresh();
      const runSub = s.runner(sub);
      const runRef = s.runner(ref);
      // Steady state before timing: the whole stream once, so every peer is already tracked
      // (the flood case keeps inserting whatever happens).
      for (let done = 0; done < s.n; done += CHECKS) {
        runSub(ss);
        runRef(rs);
      }
      return {
        subject: { name: subjectName, fn: () => runSub(ss) },
        reference: { name: referenceName ?? 'plain Map<peer, { tokens, last }> per class, written in the bench', fn: () => runRef(rs) },
      };
    },
  };
}

export function rateLimitCases() {
  const classes5 = (n) => Array.from({ length: n }, (_, i) => RATE_CLASSES[i % 5]);
  const keyed = (make, keys) => () => ({ target: make(), keys });
  /** 2^20 checks, each a random one of 100k peers and a random class (same every run). */
  const randomPeers = () => {
    const r = rng(42);
    const peers = Array.from({ length: PEERS }, () => fingerprint(r)); // 64-hex keys, like fingerprints
    const n = 1 << 20;
    const pick = new Int32Array(n);
    const classes = new Array(n);
    for (let i = 0; i < n; i++) {
      pick[i] = Math.floor(r() * PEERS);
      classes[i] = RATE_CLASSES[Math.floor(r() * 5)];
    }
    return { peers, pick, classes };
  };
  return [
    rateCase({
      id: 'ratelimit/hot-within',
      title: 'hot peer, within its limits',
      quick: true,
      build() {
        // 600k/min, burst 100 for every class: a check per class every 5 ms always passes.
        const fast = Object.fromEntries(RATE_CLASSES.map((c) => [c, { perMinute: 600_000, burst: 100 }]));
        const keys = Array.from({ length: 1000 }, () => 'f'.repeat(64));
        return {
          s: stream(classes5(1000), 1),
          subject: keyed(() => new RateLimiter({ classes: fast }), keys),
          reference: keyed(() => new NaiveLimiter(fast), keys),
          allowedShare: 1,
        };
      },
    }),
    rateCase({
      id: 'ratelimit/hot-over',
      title: 'hot peer, over its limits (spec defaults)',
      build() {
        const keys = Array.from({ length: 1000 }, () => 'f'.repeat(64));
        return {
          s: stream(classes5(1000), 1),
          subject: keyed(() => new RateLimiter(), keys),
          reference: keyed(() => new NaiveLimiter(SPEC), keys),
        };
      },
    }),
    rateCase({
      id: 'ratelimit/100k-peers',
      title: `${PEERS / 1000}k peers, random order, by key`,
      build() {
        // 0.01 ms apart: a peer sees about one check per second (spec defaults).
        const { peers, pick, classes } = randomPeers();
        const keys = Array.from(pick, (i) => peers[i]);
        return {
          s: stream(classes, 0.01),
          subject: keyed(() => new RateLimiter({ maxTrackedPeers: PEERS }), keys),
          reference: keyed(() => new NaiveLimiter(SPEC), keys),
        };
      },
    }),
    rateCase({
      id: 'ratelimit/100k-handles',
      title: `${PEERS / 1000}k peers, random order, by handle`,
      subjectName: 'peercomm PeerLimits.take(class, now), one handle per peer (limiter.peer(key))',
      referenceName: 'plain { tokens, last } objects per class held on each peer\'s session (no Map)',
      build() {
        const { peers, pick, classes } = randomPeers();
        return {
          s: stream(classes, 0.01, true),
          subject: () => {
            const rl = new RateLimiter({ maxTrackedPeers: PEERS });
            const handles = peers.map((k) => rl.peer(k));
            return { target: rl, keys: Array.from(pick, (i) => handles[i]) };
          },
          reference: () => {
            const sessions = peers.map(() => new NaiveSessionBuckets(SPEC));
            return { target: null, keys: Array.from(pick, (i) => sessions[i]) };
          },
        };
      },
    }),
    rateCase({
      id: 'ratelimit/flood',
      title: 'flood: a new key every check, at a 100k cap',
      referenceName: 'plain Map<peer, { tokens, last }> per class, evicting the oldest key at the cap',
      build() {
        // 400k distinct source addresses in turn, handshake class: at a 100k cap every check is
        // a new key that evicts another.
        const keys = Array.from({ length: 4 * PEERS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
        const classes = keys.map(() => 'handshake');
        return {
          s: stream(classes, 0.01),
          subject: keyed(() => new RateLimiter({ maxTrackedPeers: PEERS }), keys),
          reference: keyed(() => new NaiveLimiter(SPEC, PEERS), keys),
        };
      },
    }),
  ];
}

// ------------------------------------------------------------------ memory per (peer, class)

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

function used() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/**
 * Bytes per tracked (peer, class), `peers` peers × 5 classes, for a fresh limiter made by
 * `make`. "structures" counts what the limiter adds while the caller still holds the key
 * strings; "with keys" is after the caller dropped them (the limiter is then their only holder).
 * Both are heapUsed + arrayBuffers: the typed arrays live outside the JS heap.
 */
export function memoryPerEntry(make, { peers = PEERS, keyOf = (r) => fingerprint(r) } = {}) {
  const r = rng(7);
  const m0 = used();
  let keys = Array.from({ length: peers }, () => keyOf(r));
  const m1 = used();
  const limiter = make();
  for (const cls of RATE_CLASSES) for (let i = 0; i < peers; i++) limiter.take(keys[i], cls, 1_790_000_000_000);
  const m2 = used();
  keys = null;
  const m3 = used();
  const entries = peers * RATE_CLASSES.length;
  const per = (a, b) => ({
    heap: (b.heap - a.heap) / entries,
    buffers: (b.buffers - a.buffers) / entries,
    total: (b.heap + b.buffers - a.heap - a.buffers) / entries,
  });
  sink.v ^= limiter.take('x', 'task', 0);
  return { peers, entries, structures: per(m1, m2), withKeys: per(m0, m3) };
}

export function rateLimitMemory() {
  const rows = [];
  for (const [keys, keyOf] of [
    ['64-hex fingerprint', (r) => fingerprint(r)],
    ['IPv4 address', (() => { let i = 0; return () => { i++; return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`; }; })()],
  ]) {
    rows.push({ keys, who: 'peercomm RateLimiter', ...memoryPerEntry(() => new RateLimiter({ maxTrackedPeers: PEERS }), { keyOf }) });
    rows.push({ keys, who: 'plain Map<peer, {tokens,last}> per class', ...memoryPerEntry(() => new NaiveLimiter(SPEC), { keyOf }) });
  }
  return rows;
}

function printMemory(rows) {
  const f = (x) => x.toFixed(1).padStart(6);
  console.log(`\nmemory per tracked (peer, class): ${PEERS.toLocaleString('en-US')} peers × 5 classes; bytes of heapUsed + arrayBuffers after gc()`);
  console.log('keys                 implementation                              structures (heap + typed arrays)   with the key strings');
  for (const r of rows) {
    console.log(`${r.keys.padEnd(20)} ${r.who.padEnd(43)} ${f(r.structures.total)} (${f(r.structures.heap)} + ${f(r.structures.buffers)})         ${f(r.withKeys.total)}`);
  }
}

async function main(argv) {
  const { PROFILES, environment, measureCase, progressLine, resultsTable, clock } = await import('./common.js');
  const { engine } = await import('../dist/index.js');
  const env = environment(engine());
  console.log(`peercomm rate-limit benchmarks — Node ${env.node} · ${env.cpu} · ${env.cores} cores · load ${env.loadavg.join(' ')} · ${env.date}`);
  console.log(`timing: ${clock.name}; ratio = peercomm ÷ reference, same inputs, same run`);
  if (!argv.includes('--memory')) {
    const profile = argv.includes('--quick') ? PROFILES.quick : PROFILES.full;
    const cases = rateLimitCases();
    const results = [];
    for (const [i, c] of cases.entries()) {
      const r = measureCase(c, profile);
      results.push(r);
      process.stderr.write(`${progressLine(i + 1, cases.length, r)}\n`);
    }
    console.log(resultsTable(results));
  }
  printMemory(rateLimitMemory());
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
