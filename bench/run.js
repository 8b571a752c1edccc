#!/usr/bin/env node
// Benchmark driver. See bench/README.md.
//
//   node bench/run.js                    full suite (~2–4 min), table on stdout, progress on stderr
//   node bench/run.js --quick            six headline cases, a few seconds
//   node bench/run.js --check            regression gate against bench/baseline.json (< 90 s), then
//                                        node bench/stacks.js --check: the peer-to-peer ratios to
//                                        node:tls against bench/baseline-stacks.json (~40 s)
//   node bench/run.js --update-baseline  re-measure the gated cases (--runs N, default 5) and
//                                        write bench/baseline.json
//   --json <file>                        also write the results as JSON
//   --filter <text>                      only cases whose id or title contains <text>
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine } from '../dist/index.js';
import { aeadCases } from './aead.js';
import {
  PROFILES, clock, environment, fmtRatio, measureCase, median, progressLine, resultsTable,
} from './common.js';
import { deframerCases } from './deframer.js';
import { handshakeCases } from './handshake-crypto.js';
import { rateLimitCases } from './ratelimit.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASELINE_FILE = path.join(here, 'baseline.json');
/** A gated ratio fails when it is more than this fraction below its baseline. */
const MARGIN = 0.25;
/** Attempts per gated case: the first measurement and up to 2 re-measurements. */
const ATTEMPTS = 3;
/** The baseline is this fraction of the median of the runs (CI machines differ from ours). */
const BASELINE_FACTOR = 0.9;

function parseArgs(argv) {
  const opts = { mode: 'full', json: null, filter: null, runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.mode = 'quick';
    else if (a === '--check') opts.mode = 'check';
    else if (a === '--update-baseline') opts.mode = 'update-baseline';
    else if (a === '--json') opts.json = argv[++i];
    else if (a === '--filter') opts.filter = argv[++i];
    else if (a === '--runs') opts.runs = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else {
      console.error(`unknown argument ${a} (try --help)`);
      process.exit(2);
    }
  }
  if ((opts.json === undefined) || !(opts.runs >= 1)) {
    console.error('--json needs a file; --runs needs a positive number');
    process.exit(2);
  }
  return opts;
}

const allCases = () => [...aeadCases(), ...handshakeCases(), ...deframerCases(), ...rateLimitCases()];

function selectCases(opts) {
  let cases = allCases();
  if (opts.mode === 'quick') cases = cases.filter((c) => c.quick);
  if (opts.mode === 'check' || opts.mode === 'update-baseline') cases = cases.filter((c) => c.gated);
  if (opts.filter) cases = cases.filter((c) => c.id.includes(opts.filter) || c.title.includes(opts.filter));
  if (cases.length === 0) {
    console.error('no case selected');
    process.exit(2);
  }
  return cases;
}

function header(env) {
  const lines = [
    `peercomm benchmarks — engine: ${env.engine}`,
    `Node ${env.node} (OpenSSL ${env.openssl}) · ${env.cpu} · ${env.cores} cores · load ${env.loadavg.join(' ')} · ${env.date}`,
    `timing: ${clock.name}; ratio = peercomm ÷ reference, same inputs, same run`,
  ];
  if (env.engine !== 'native') {
    const why = process.env.PEERCOMM_NO_NATIVE === '1' ? 'PEERCOMM_NO_NATIVE=1 is set' : 'the native addon did not load';
    lines.push(
      '',
      `!! FALLBACK ENGINE IN USE: ${why}, so AES-256-GCM runs on node:crypto, not the native addon.`,
      '!! The AES ratios below collapse to about 1×; the --check gate is expected to FAIL.',
    );
  }
  return lines.join('\n');
}

function measureAll(cases, profile, label = '') {
  const results = [];
  for (const [i, c] of cases.entries()) {
    const r = measureCase(c, profile);
    results.push(r);
    process.stderr.write(`${label}${progressLine(i + 1, cases.length, r)}\n`);
  }
  return results;
}

function writeJson(file, data) {
  if (!file) return;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  process.stderr.write(`results written to ${file}\n`);
}

function loadBaseline() {
  try {
    return JSON.parse(readFileSync(BASELINE_FILE, 'utf8'));
  } catch (err) {
    return { error: err.message };
  }
}

function runCheck(cases, env, opts) {
  const started = Date.now();
  const baseline = loadBaseline();
  if (baseline.error) {
    console.log(`FAIL: cannot read ${path.relative(process.cwd(), BASELINE_FILE)} (${baseline.error}); run node bench/run.js --update-baseline`);
    return 1;
  }
  const margin = baseline.margin ?? MARGIN;
  console.log(`gate: each ratio must be ≥ (1 − ${margin}) × baseline (bench/baseline.json, ${baseline.produced?.date?.slice(0, 10) ?? '?'}); a failing case is re-measured up to ${ATTEMPTS - 1} more times.\n`);
  const state = cases.map((c) => {
    const base = baseline.cases?.[c.id]?.baseline;
    return { c, base, threshold: base === undefined ? undefined : base * (1 - margin), attempts: [], pass: false };
  });
  const verdict = (s) => `${s.pass ? 'PASS' : 'FAIL'}  ${s.c.id.padEnd(22)} ratio ${fmtRatio(s.attempts.at(-1).ratio).padStart(7)}  ` +
    (s.base === undefined ? '(no baseline for this case)' : `threshold ${fmtRatio(s.threshold).padStart(6)} (baseline ${fmtRatio(s.base)} − ${margin * 100}%)`);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const todo = state.filter((s) => !s.pass && (attempt === 1 || s.base !== undefined));
    if (todo.length === 0) break;
    if (attempt > 1) console.log(`\nretry ${attempt - 1}/${ATTEMPTS - 1}: re-measuring ${todo.length} failing case(s)`);
    for (const [i, s] of todo.entries()) {
      const r = measureCase(s.c, PROFILES.check);
      s.attempts.push(r);
      s.pass = s.threshold !== undefined && r.ratio >= s.threshold;
      process.stderr.write(`${attempt > 1 ? `retry ${attempt - 1}: ` : ''}${progressLine(i + 1, todo.length, r)}\n`);
      console.log(`${attempt > 1 ? `  retry ${attempt - 1}/${ATTEMPTS - 1}: ` : ''}${verdict(s)}`);
    }
  }
  const failed = state.filter((s) => !s.pass);
  const seconds = (Date.now() - started) / 1000;
  console.log('');
  if (failed.length === 0) {
    console.log(`bench:check PASSED: ${state.length} gated ratios within ${margin * 100}% of baseline (${seconds.toFixed(0)} s)`);
  } else {
    console.log(`bench:check FAILED: ${failed.length} of ${state.length} gated ratios more than ${margin * 100}% below baseline in all ${ATTEMPTS} attempts: ${failed.map((s) => s.c.id).join(', ')} (${seconds.toFixed(0)} s)`);
    if (env.engine !== 'native') console.log(`engine is ${env.engine.toUpperCase()}: the native addon is not in use, which explains AES ratios near 1×.`);
  }
  writeJson(opts.json, {
    environment: env,
    mode: 'check',
    passed: failed.length === 0,
    seconds,
    cases: state.map((s) => ({ id: s.c.id, baseline: s.base ?? null, threshold: s.threshold ?? null, pass: s.pass, attempts: s.attempts })),
  });
  return failed.length === 0 ? 0 : 1;
}

function updateBaseline(cases, env, opts) {
  if (env.engine !== 'native') {
    console.error('refusing to write a baseline with the fallback engine');
    return 1;
  }
  const ratios = new Map(cases.map((c) => [c.id, []]));
  for (let run = 1; run <= opts.runs; run++) {
    for (const r of measureAll(cases, PROFILES.check, `run ${run}/${opts.runs} `)) ratios.get(r.id).push(r.ratio);
  }
  const round2 = (x) => Math.round(x * 100) / 100;
  const previous = loadBaseline();
  const out = {
    about: 'Gated ratios (peercomm ÷ node:crypto reference, same run) for `node bench/run.js --check`. ' +
      `Written by --update-baseline: each case measured ${opts.runs} times with the check profile; ` +
      `baseline = ${BASELINE_FACTOR} × median. The gate fails a case below (1 − margin) × baseline.`,
    margin: MARGIN,
    factor: BASELINE_FACTOR,
    produced: { ...env, runs: opts.runs, profile: PROFILES.check },
    cases: {
      // With --filter, the cases not re-measured keep their previous entries.
      ...(previous.error ? {} : previous.cases),
      ...Object.fromEntries(cases.map((c) => {
        const rs = ratios.get(c.id);
        return [c.id, { baseline: round2(BASELINE_FACTOR * median(rs)), median: round2(median(rs)), runs: rs.map(round2) }];
      })),
    },
  };
  writeFileSync(BASELINE_FILE, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), BASELINE_FILE)}:`);
  for (const [id, v] of Object.entries(out.cases)) {
    console.log(`  ${id.padEnd(22)} median ${fmtRatio(v.median).padStart(7)} → baseline ${fmtRatio(v.baseline).padStart(7)}   runs ${v.runs.join(' ')}`);
  }
  return 0;
}

const opts = parseArgs(process.argv.slice(2));
const env = environment(engine());
console.log(header(env));
if (env.engine !== 'native') process.stderr.write('peercomm bench: FALLBACK engine in use (native addon not loaded)\n');
console.log('');
const cases = selectCases(opts);
let code = 0;
const started = Date.now();
if (opts.mode === 'check') {
  code = runCheck(cases, env, opts);
  if (!opts.filter) {
    // The same gate over real sockets: peercomm against node:tls in two processes (bench/stacks.js).
    console.log('\n== peer-to-peer gate: node bench/stacks.js --check\n');
    const stacks = spawnSync(process.execPath, [path.join(here, 'stacks.js'), '--check'], { stdio: 'inherit' });
    if (stacks.status !== 0) code = 1;
  }
} else if (opts.mode === 'update-baseline') {
  code = updateBaseline(cases, env, opts);
} else {
  const results = measureAll(cases, PROFILES[opts.mode]);
  console.log(resultsTable(results));
  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${results.length} cases in ${seconds.toFixed(0)} s (${opts.mode} profile).`);
  writeJson(opts.json, { environment: env, mode: opts.mode, profile: PROFILES[opts.mode], seconds, results });
}
process.exitCode = code;
