#!/usr/bin/env node
// bench:stacks: peercomm against plain TCP, node:tls 1.3 and @hyperswarm/secret-stream, client
// and server in two separate processes over loopback TCP (bench/stacks-lib/worker.js), stacks
// interleaved in rotating order within each repetition, every figure a ratio paired per
// repetition (peercomm ÷ the other stack measured in the same repetition), median of those.
//
//   node bench/stacks.js                 full: 5 repetitions, every scenario, 1,000 idle sessions
//   node bench/stacks.js --quick         3 short repetitions, peercomm and node:tls only
//   node bench/stacks.js --check         --quick, then gate the ratios to node:tls against
//                                       bench/baseline-stacks.json (not yet part of npm run bench:check)
//   node bench/stacks.js --update-baseline   re-measure (--quick profile, --runs N, default 3) and
//                                       write bench/baseline-stacks.json
//   --reps N  --seconds S  --sessions N  --stacks tcp,tls,secret,peercomm
//   --scenarios handshake,msg64,msg1k,msg64k,msg1m,idle   --json <file>
//
// Scenarios: handshake = sequential connect (authenticated) + close, handshakes/s and CPU per
// handshake (both processes' user+system time); msgN = one connection pumping N-byte messages
// with the stack's own backpressure, messages/s (or MB/s) counted by the receiver and CPU per
// message / per MB; idle = the server's RSS growth per open idle session (after full GCs).
// Progress on stderr, the table on stdout. Needs dist/ (npm run build) and the openssl CLI
// (node:crypto cannot issue the Ed25519 certificates node:tls needs).
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { environment, median, textTable } from './common.js';
import { STACKS, STACK_NAMES } from './stacks-lib/stacks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'stacks-lib', 'worker.js');
const BASELINE_FILE = path.join(here, 'baseline-stacks.json');
const MARGIN = 0.3;
const BASELINE_FACTOR = 0.9;

const SCENARIOS = {
  handshake: { title: 'handshakes/s', kind: 'handshake' },
  msg64: { title: '64 B messages/s', kind: 'pump', size: 64 },
  msg1k: { title: '1 KiB messages/s', kind: 'pump', size: 1024 },
  msg64k: { title: '64 KiB MB/s', kind: 'pump', size: 64 * 1024, mb: true },
  msg1m: { title: '1 MiB MB/s', kind: 'pump', size: 1024 * 1024, mb: true },
  idle: { title: 'idle KiB/session', kind: 'idle' },
};
/** The ratios the gate checks (peercomm ÷ node:tls), all higher-is-better. */
const GATED = ['handshake/rate', 'handshake/cpu', 'msg64/rate', 'msg1k/rate', 'msg1m/rate'];

function parseArgs(argv) {
  const o = { mode: 'full', reps: 5, seconds: 2, sessions: 1000, stacks: STACK_NAMES, scenarios: Object.keys(SCENARIOS), json: null, runs: 3 };
  const quick = () => Object.assign(o, { reps: 3, seconds: 0.6, stacks: ['peercomm', 'tls'], scenarios: ['handshake', 'msg64', 'msg1k', 'msg1m'] });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--quick') { o.mode = 'quick'; quick(); }
    else if (a === '--check') { o.mode = 'check'; quick(); }
    else if (a === '--update-baseline') { o.mode = 'update-baseline'; quick(); }
    else if (a === '--reps') o.reps = Number(next());
    else if (a === '--runs') o.runs = Number(next());
    else if (a === '--seconds') o.seconds = Number(next());
    else if (a === '--sessions') o.sessions = Number(next());
    else if (a === '--stacks') o.stacks = next().split(',');
    else if (a === '--scenarios') o.scenarios = next().split(',');
    else if (a === '--json') o.json = next();
    else if (a === '--help' || a === '-h') {
      const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
      console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else fail(`unknown argument ${a} (try --help)`);
  }
  if (!(o.reps >= 1) || !(o.seconds > 0) || !(o.sessions >= 1) || !(o.runs >= 1)) fail('--reps, --runs, --seconds and --sessions need positive numbers');
  for (const s of o.stacks) if (!STACKS[s]) fail(`unknown stack ${s} (${STACK_NAMES.join(', ')})`);
  for (const s of o.scenarios) if (!SCENARIOS[s]) fail(`unknown scenario ${s} (${Object.keys(SCENARIOS).join(', ')})`);
  if (!o.stacks.includes('peercomm')) o.stacks.unshift('peercomm');
  return o;
}

function fail(msg) {
  console.error(msg);
  process.exit(2);
}

/** A forked worker with request/response over IPC. */
async function spawn(role, stack) {
  const child = fork(WORKER, [role, stack], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let next = 1;
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${role} ${stack}: ${m.error}`));
    else p.resolve(m);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`${role} ${stack} exited (${code})`));
    pending.clear();
  });
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error('worker did not start'))));
    child.once('error', reject);
  });
  return {
    ask(op, args = {}) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, op, ...args });
      });
    },
    async exit() {
      const done = new Promise((r) => child.once('exit', r));
      await this.ask('exit').catch(() => {});
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Counter and both processes' CPU over a window after a warm-up. */
async function window(server, client, counterOf, seconds) {
  await sleep(Math.min(500, seconds * 500));
  const [s0, c0] = await Promise.all([server.ask('snapshot'), client.ask('snapshot')]);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const [s1, c1] = await Promise.all([server.ask('snapshot'), client.ask('snapshot')]);
  const dt = (performance.now() - t0) / 1000;
  const count = counterOf(s1, c1) - counterOf(s0, c0);
  const cpuUs = (s1.cpu - s0.cpu) + (c1.cpu - c0.cpu);
  return { count, dt, cpuUs };
}

/** Measures every scenario of one stack in fresh processes; figures keyed "scenario/metric". */
async function measureStack(stack, o, setup) {
  const out = {};
  const server = await spawn('server', stack);
  const client = await spawn('client', stack);
  try {
    const { port } = await server.ask('listen', { setup });
    await client.ask('prepare', { setup, port });
    for (const name of o.scenarios) {
      const sc = SCENARIOS[name];
      if (sc.kind === 'handshake') {
        await client.ask('handshakes');
        const w = await window(server, client, (_s, c) => c.handshakes, o.seconds);
        await client.ask('stop');
        out['handshake/rate'] = w.count / w.dt;
        out['handshake/cpu'] = w.cpuUs / 1000 / w.count; // ms of CPU per handshake, both sides
      } else if (sc.kind === 'pump') {
        await client.ask('pump', { size: sc.size });
        const w = await window(server, client, (s) => (sc.mb ? s.bytes : s.messages), o.seconds);
        await client.ask('stop');
        out[`${name}/rate`] = sc.mb ? w.count / w.dt / 1e6 : w.count / w.dt;
        out[`${name}/cpu`] = sc.mb ? w.cpuUs / 1000 / (w.count / 1e6) : (w.cpuUs * 1000) / w.count; // ms/MB or ns/msg
      }
    }
    if (o.scenarios.includes('idle')) {
      const before = (await server.ask('rss')).rss;
      await client.ask('idle', { count: o.sessions });
      await sleep(300);
      const after = (await server.ask('rss')).rss;
      out['idle/kib'] = (after - before) / 1024 / o.sessions;
    }
  } finally {
    await Promise.all([client.exit(), server.exit()]);
  }
  return out;
}

/** Lower-is-better figures: their ratio is inverted so every ratio reads "× better". */
const lowerIsBetter = (key) => key.endsWith('/cpu') || key.endsWith('/kib');

async function run(o) {
  const setups = Object.fromEntries(o.stacks.map((s) => [s, STACKS[s].setup?.() ?? {}]));
  const reps = [];
  const t0 = performance.now();
  for (let r = 0; r < o.reps; r++) {
    const order = o.stacks.map((_, i) => o.stacks[(i + r) % o.stacks.length]);
    const rep = {};
    for (const [i, stack] of order.entries()) {
      const done = r * o.stacks.length + i;
      const elapsed = (performance.now() - t0) / 1000;
      const eta = done ? ((elapsed / done) * (o.reps * o.stacks.length - done)).toFixed(0) : '?';
      process.stderr.write(`[rep ${r + 1}/${o.reps}] ${stack.padEnd(8)} (elapsed ${elapsed.toFixed(0)} s, ETA ${eta} s)\n`);
      rep[stack] = await measureStack(stack, o, setups[stack]);
    }
    reps.push(rep);
  }
  return summarize(o, reps);
}

function summarize(o, reps) {
  const keys = Object.keys(reps[0].peercomm);
  const rows = {};
  for (const key of keys) {
    const row = { value: {}, ratio: {} };
    for (const stack of o.stacks) row.value[stack] = median(reps.map((r) => r[stack][key]));
    for (const other of o.stacks.filter((s) => s !== 'peercomm')) {
      const paired = reps.map((r) => (lowerIsBetter(key) ? r[other][key] / r.peercomm[key] : r.peercomm[key] / r[other][key]));
      row.ratio[other] = { median: median(paired), reps: paired };
    }
    rows[key] = row;
  }
  return { env: environment(null), options: { reps: o.reps, seconds: o.seconds, sessions: o.sessions }, rows };
}

const UNITS = { 'handshake/rate': '/s', 'handshake/cpu': 'ms', 'idle/kib': 'KiB' };
function unitOf(key) {
  if (UNITS[key]) return UNITS[key];
  const sc = SCENARIOS[key.split('/')[0]];
  if (key.endsWith('/rate')) return sc.mb ? 'MB/s' : 'msg/s';
  return sc.mb ? 'ms CPU/MB' : 'ns CPU/msg';
}

function fmt(v) {
  if (v >= 100_000) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 100) return v.toFixed(0);
  return v.toFixed(2);
}

function print(o, result) {
  const others = o.stacks.filter((s) => s !== 'peercomm');
  const head = ['figure', 'unit', ...o.stacks, ...others.map((s) => `× vs ${s}`)];
  const body = Object.entries(result.rows).map(([key, row]) => [
    key, unitOf(key), ...o.stacks.map((s) => fmt(row.value[s])), ...others.map((s) => `${row.ratio[s].median.toFixed(2)}×`),
  ]);
  console.log(textTable([head, ...body], head.map((_, i) => i >= 2)));
  console.log(`\n"× vs X" = peercomm's advantage over X: rate ÷ rate, or X's cost ÷ peercomm's cost for CPU and memory (median of ${o.reps} paired repetitions).`);
  const e = result.env;
  console.log(`node ${e.node}, OpenSSL ${e.openssl}, ${e.cpu} × ${e.cores}, load ${e.loadavg.join(' ')}`);
}

function gate(result) {
  let baseline;
  try {
    baseline = JSON.parse(readFileSync(BASELINE_FILE, 'utf8'));
  } catch (err) {
    console.log(`FAIL: cannot read ${path.relative(process.cwd(), BASELINE_FILE)} (${err.message}); run node bench/stacks.js --update-baseline`);
    return false;
  }
  const margin = baseline.margin ?? MARGIN;
  let ok = true;
  for (const key of GATED) {
    const got = result.rows[key]?.ratio.tls?.median;
    const base = baseline.ratios?.[key]?.baseline;
    if (got === undefined || base === undefined) { console.log(`  ${key.padEnd(16)} no figure or no baseline: FAIL`); ok = false; continue; }
    const threshold = (1 - margin) * base;
    const pass = got >= threshold;
    ok &&= pass;
    console.log(`  ${key.padEnd(16)} ${got.toFixed(2)}× vs node:tls  threshold ${threshold.toFixed(2)}× (baseline ${base.toFixed(2)}× − ${margin * 100}%)  ${pass ? 'ok' : 'FAIL'}`);
  }
  return ok;
}

const o = parseArgs(process.argv.slice(2));
if (o.mode === 'update-baseline') {
  const runs = [];
  for (let i = 0; i < o.runs; i++) runs.push(await run(o));
  const ratios = Object.fromEntries(GATED.map((key) => {
    const rs = runs.map((r) => r.rows[key].ratio.tls.median);
    return [key, { baseline: Number((BASELINE_FACTOR * median(rs)).toFixed(2)), median: Number(median(rs).toFixed(2)), runs: rs.map((x) => Number(x.toFixed(2))) }];
  }));
  writeFileSync(BASELINE_FILE, `${JSON.stringify({
    about: `Gated ratios (peercomm ÷ node:tls, paired per repetition, --quick profile) for node bench/stacks.js --check. baseline = ${BASELINE_FACTOR} × median of ${o.runs} runs; the gate fails a ratio below (1 − margin) × baseline.`,
    margin: MARGIN, factor: BASELINE_FACTOR, produced: runs[0].env, ratios,
  }, null, 2)}\n`);
  for (const [k, v] of Object.entries(ratios)) console.log(`${k.padEnd(16)} median ${v.median}× → baseline ${v.baseline}×   runs ${v.runs.join(' ')}`);
} else {
  const result = await run(o);
  print(o, result);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
  if (o.mode === 'check') {
    console.log('\nbench:stacks gate (ratios to node:tls):');
    if (gate(result)) console.log('bench:stacks check PASSED');
    else {
      console.log('bench:stacks check FAILED');
      process.exitCode = 1;
    }
  }
}
