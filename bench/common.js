// Shared by every suite: how a case is measured (tinybench, subject and reference interleaved),
// how the ratio is computed, and how results are formatted. Suites only describe cases.
//
// A case is
//   { id, group, title, records, bytes, unit: 'ops' | 'MB', floor?, gated?, quick?,
//     make() → { subject: { name, fn }, reference: { name, fn } } }
// where one call of fn processes `records` records (or frames) of `bytes` bytes each; make()
// builds the inputs, and checks once that subject and reference agree on them.
import { openSync, readSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bench } from 'tinybench';

/** Results are folded in here so the JIT cannot drop the work being measured. */
export const sink = { v: 0 };

/**
 * Measurement profiles. Each case runs `rounds` rounds; a round is one tinybench Bench holding
 * the subject and the reference, in alternating order from round to round, `time` ms each.
 * Warmup (tinybench's) is the same for both tasks: `warmupTime` in round 0, `rewarmTime` after.
 * One tinybench sample is an inner loop of about `sampleMs` of calls, timed with `clock`
 * (preemption excluded); ops/s = 1 / mean time per call, so GC and allocation costs count.
 */
export const PROFILES = {
  full: { rounds: 7, time: 210, warmupTime: 150, rewarmTime: 30, sampleMs: 2 },
  check: { rounds: 5, time: 150, warmupTime: 80, rewarmTime: 25, sampleMs: 2 },
  quick: { rounds: 1, time: 200, warmupTime: 80, rewarmTime: 0, sampleMs: 2 },
};

export const KiB = 1024;
export const MiB = 1024 * 1024;

export function sizeLabel(n) {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times `fn` by doubling the call count until one batch takes ≥ 2 ms; returns ms per call. */
function msPerCall(fn) {
  for (let n = 1; ; n *= 2) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    const dt = performance.now() - t0;
    if (dt >= 2 || n >= 1 << 20) return dt / n;
  }
}

function innerCount(fn, sampleMs) {
  // Two estimates, the second after the first warmed the code; keep the faster.
  const per = Math.min(msPerCall(fn), msPerCall(fn));
  return Math.max(1, Math.round(sampleMs / per));
}

/** A full collection between tasks, so neither side pays for the other's garbage. */
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc');

/**
 * Primes glibc malloc once per process: freeing one 31 MiB block raises its dynamic mmap
 * threshold (and trim threshold) to that size, as happens in any process that has handled a
 * large buffer. Without it, whether a 1 MiB output buffer is served from the heap or from
 * fresh, page-faulting memory depends on what the process allocated before, and the 1 MiB
 * cases swing by 2× from run to run. Both sides run after the same priming.
 */
{
  let big = Buffer.allocUnsafe(31 * 1024 * 1024);
  big[0] = 1;
  big = null;
  collectGarbage();
  collectGarbage();
}

/**
 * The clock samples are timed with: wall-clock time minus the time this thread spent waiting
 * on a run queue, i.e. preempted by other jobs on a shared machine. Linux updates that wait
 * (run_delay, 2nd field of /proc/thread-self/schedstat) with ns precision whenever the thread
 * is scheduled back in, so `now()` differences are the time the thread actually ran — GC
 * pauses, page faults and allocator work included, other processes excluded. (Thread CPU
 * time would do too, but Linux only updates it per scheduler tick, 4 ms here.) Reading costs
 * one pread on a kept-open fd (~2 µs). Elsewhere: plain wall-clock time.
 */
export const clock = (() => {
  try {
    const fd = openSync('/proc/thread-self/schedstat', 'r');
    const buf = Buffer.alloc(96);
    const runDelayMs = () => {
      const n = readSync(fd, buf, 0, buf.length, 0);
      let i = 0;
      while (i < n && buf[i] !== 32) i++; // skip sum_exec_runtime
      let v = 0;
      for (i++; i < n; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      return v / 1e6;
    };
    if (readSync(fd, buf, 0, buf.length, 0) > 0 && buf.toString('latin1').split(' ').length >= 3) {
      return { name: 'wall-clock minus run-queue wait (/proc/thread-self/schedstat)', now: () => performance.now() - runDelayMs() };
    }
  } catch { /* not Linux */ }
  return { name: 'wall-clock (performance.now)', now: () => performance.now() };
})();

/**
 * Wraps fn in an inner loop of k calls (about `sampleMs`); the sample handed to tinybench is
 * the mean per call by `clock`. Plain wall-clock time is kept alongside for the JSON output.
 */
function looped(t) {
  const { fn, k } = t;
  const now = clock.now;
  return () => {
    const f0 = process.resourceUsage().minorPageFault;
    const w0 = performance.now();
    const c0 = now();
    for (let i = 0; i < k; i++) fn();
    const ran = now() - c0;
    const wall = performance.now() - w0;
    t.faults += process.resourceUsage().minorPageFault - f0;
    t.wallMs += wall;
    t.calls += k;
    return { overriddenDuration: ran / k, overriddenIterationCost: wall };
  };
}

/**
 * Measures one case: subject and reference, same inputs, same warmup, interleaved in rounds
 * (alternating which goes first). Each side's rate in a round is 1 / mean time per call over
 * its samples; the ratio is subject ÷ reference per round; the case reports the median over
 * rounds. Within a round the two run one after the other, each after a full GC, so each pays
 * for the garbage it makes: interleaving sample by sample (tinybench `concurrency: 'bench'`)
 * was tried and charges part of node:crypto's GC work to peercomm's samples.
 */
export function measureCase(c, profile) {
  const started = performance.now();
  const { subject, reference } = c.make();
  const tasks = [subject, reference].map((side, i) => ({
    role: i === 0 ? 'subject' : 'reference', ...side, k: innerCount(side.fn, profile.sampleMs),
    hz: [], wallHz: [], rme: [], samples: 0, wallMs: 0, calls: 0, faults: 0, faultsPerCall: [],
  }));
  const roundRatios = [];
  for (let r = 0; r < profile.rounds; r++) {
    const warm = r === 0 ? profile.warmupTime : profile.rewarmTime;
    const bench = new Bench({
      name: c.id,
      time: profile.time,
      iterations: 8,
      warmup: warm > 0,
      warmupTime: warm,
      warmupIterations: 2,
      throws: true,
    });
    const order = r % 2 === 0 ? tasks : [tasks[1], tasks[0]];
    for (const t of order) {
      bench.add(t.role, looped(t), {
        async: false,
        beforeAll(mode) {
          collectGarbage();
          if (mode === 'run') { t.wallMs = 0; t.calls = 0; t.faults = 0; }
        },
        afterAll(mode) {
          if (mode === 'run') t.faultsPerCall.push(t.faults / t.calls);
        },
      });
    }
    bench.runSync();
    for (const t of tasks) {
      const res = bench.getTask(t.role).result;
      if (res.state !== 'completed') throw new Error(`${c.id} ${t.role}: ${res.state} ${res.error?.message ?? ''}`);
      t.hz.push(1000 / res.latency.mean);
      t.rme.push(res.latency.rme);
      t.samples += res.latency.samplesCount;
      t.wallHz.push((1000 * t.calls) / t.wallMs);
    }
    roundRatios.push(tasks[0].hz[r] / tasks[1].hz[r]);
  }
  const summary = (t) => {
    const hz = median(t.hz);
    return {
      name: t.name,
      callsPerSec: hz,
      perSec: hz * c.records,
      mbPerSec: (hz * c.records * c.bytes) / 1e6,
      roundsPerSec: t.hz.map((h) => h * c.records),
      wallPerSec: median(t.wallHz) * c.records,
      minorFaultsPerCall: median(t.faultsPerCall),
      rmePercent: median(t.rme),
      samples: t.samples,
      innerLoop: t.k,
    };
  };
  return {
    id: c.id,
    group: c.group,
    title: c.title,
    unit: c.unit,
    records: c.records,
    bytes: c.bytes,
    subject: summary(tasks[0]),
    reference: summary(tasks[1]),
    ratio: median(roundRatios),
    roundRatios,
    floor: c.floor ?? null,
    gated: Boolean(c.gated),
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------- formatting

export function fmtCount(x) {
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  return x.toFixed(x >= 100 ? 0 : 1);
}

/** The case's headline figure for one side: MB/s for bulk cases, ops (records) per second otherwise. */
export function fmtRate(side, unit) {
  if (unit === 'MB') return `${Math.round(side.mbPerSec).toLocaleString('en-US')} MB/s`;
  return `${fmtCount(side.perSec)}/s`;
}

export const fmtRatio = (r) => `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;

export function floorVerdict(r) {
  if (r.floor == null) return '';
  return `${r.ratio >= r.floor ? 'met' : 'NOT met'} (≥${r.floor}×)`;
}

/** One progress line (stderr) after a case. */
export function progressLine(i, n, r) {
  const w = String(n).length;
  const faults = Math.max(r.subject.minorFaultsPerCall, r.reference.minorFaultsPerCall) >= 1
    ? `; page faults/call ${r.subject.minorFaultsPerCall.toFixed(0)} vs ${r.reference.minorFaultsPerCall.toFixed(0)}` : '';
  return `[${String(i).padStart(w)}/${n}] ${r.title.padEnd(34)} ${fmtRate(r.subject, r.unit).padStart(12)} vs ${fmtRate(r.reference, r.unit).padStart(12)}  ${fmtRatio(r.ratio).padStart(7)}  (rounds ${r.roundRatios.map((x) => x.toFixed(2)).join(' / ')}${faults}; ${r.seconds.toFixed(1)}s)`;
}

/** A plain-text table; rows are arrays of strings, the first row is the header. */
export function textTable(rows, alignRight = []) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => String(row[c] ?? '').length)));
  const line = (row) => row.map((cell, c) => (alignRight[c] ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c]))).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The results table, grouped by suite section, with the reference named once per group. */
export function resultsTable(results) {
  const out = [];
  const groups = [];
  for (const r of results) {
    if (groups.at(-1)?.name !== r.group) groups.push({ name: r.group, results: [] });
    groups.at(-1).results.push(r);
  }
  for (const g of groups) {
    const refs = new Set(g.results.map((r) => r.reference.name));
    const shared = refs.size === 1;
    out.push('', `## ${g.name}`, shared ? `   reference: ${g.results[0].reference.name}` : '   reference: per row');
    const head = ['case', 'peercomm', 'reference', 'ratio', 'floor'];
    if (!shared) head.push('reference is');
    const rows = [head];
    for (const r of g.results) {
      const row = [r.title + (r.gated ? ' *' : ''), fmtRate(r.subject, r.unit), fmtRate(r.reference, r.unit), fmtRatio(r.ratio), floorVerdict(r)];
      if (!shared) row.push(r.reference.name);
      rows.push(row);
    }
    out.push(textTable(rows, [false, true, true, true, false, false]));
  }
  out.push('', '* = gated by `npm run bench:check`. ratio = peercomm ÷ reference: same inputs, same run,',
    'median of the per-round ratios (subject and reference interleaved). ops/s figures are per record / frame.');
  return out.join('\n');
}

export function environment(engineName) {
  const cpus = os.cpus();
  return {
    engine: engineName,
    node: process.version,
    openssl: process.versions.openssl,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    timing: clock.name,
    date: new Date().toISOString(),
  };
}
