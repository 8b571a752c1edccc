#!/usr/bin/env node
// npm run bench:peers: peercomm against plain TCP, node:tls 1.3 and @hyperswarm/secret-stream,
// client and server in two separate processes over loopback TCP (bench/stacks-lib/worker.js),
// stacks interleaved in rotating order within each repetition, every figure a ratio paired per
// repetition (peercomm ÷ the other stack measured in the same repetition), median of those.
//
//   node bench/stacks.js                 full: 5 repetitions, every stack and scenario, 1,000 idle sessions,
//                                       and the node:cluster figure (2 workers ÷ 1) in the same run
//   node bench/stacks.js --quick         5 short repetitions, peercomm and node:tls, the gated scenarios (~60 s)
//   node bench/stacks.js --check         --quick, then gate the ratios to node:tls against
//                                       bench/baseline-stacks.json (part of npm run bench:check)
//   node bench/stacks.js --update-baseline   re-measure (--quick profile, --runs N, default 3) and
//                                       write bench/baseline-stacks.json
//   --cluster [N]                        handshakes/s with N node:cluster workers (default 2) ÷ one
//                                       worker (examples/cluster.mjs), 8 client loops in 2 processes: on by default in
//                                       the full run, off in --quick; --cluster 0 leaves it out
//   --warmup S                           seconds of handshakes (8 at a time) before the handshake window
//                                       (default 8; 0 in --quick): the JIT's steady state
//   --reps N  --seconds S  --sessions N  --stacks tcp,tls,secret,peercomm
//   --scenarios handshake,msg64,msg1k,msg64k,msg1m,api,idle   --json <file>
//
// Scenarios: handshake = sequential connect (authenticated) + close, handshakes/s, latency
// (median, p99) and CPU per handshake (both processes' user+system time); msgN = one connection
// pumping N-byte messages with the stack's own backpressure, messages/s (or MB/s) counted by the
// receiver and CPU per message / per MB; api (peercomm only) = the delivery API at 256 B, each a
// ratio to plain write() + 'drain' in the same repetition: send(x, { ack: true }) and request() → reply,
// 256 in flight, and request() with 1 in flight (round trips/s); idle = the server's RSS growth
// per open idle session (after full GCs). Progress on stderr, the tables on stdout. Needs dist/
// (npm run build) and the openssl CLI (node:crypto cannot issue the Ed25519 certificates node:tls needs).
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine } from '../dist/index.js';
import { environment, median, textTable } from './common.js';
import { STACKS, STACK_NAMES } from './stacks-lib/stacks.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'stacks-lib', 'worker.js');
const BASELINE_FILE = path.join(here, 'baseline-stacks.json');
/** A gated ratio fails more than this fraction below its baseline (a shared, noisy 2-core machine). */
const MARGIN = 0.45;
/** --check measures again once when a ratio fails. */
const CHECK_ATTEMPTS = 2;
const BASELINE_FACTOR = 0.9;

const SCENARIOS = {
  handshake: { title: 'handshakes/s', kind: 'handshake' },
  msg64: { title: '64 B messages/s', kind: 'pump', size: 64 },
  msg1k: { title: '1 KiB messages/s', kind: 'pump', size: 1024 },
  msg64k: { title: '64 KiB MB/s', kind: 'pump', size: 64 * 1024, mb: true },
  msg1m: { title: '1 MiB MB/s', kind: 'pump', size: 1024 * 1024, mb: true },
  api: { title: 'delivery API (peercomm)', kind: 'api', size: 256 },
  idle: { title: 'idle KiB/session', kind: 'idle' },
};
/** The api scenario's cases: [key, worker op, its arguments]; api/send is their reference. */
const API_CASES = [
  ['api/send', 'pump', {}],
  ['api/ack', 'api', { mode: 'ack' }],
  ['api/request', 'api', { mode: 'request' }],
  ['api/request1', 'api', { mode: 'request', window: 1 }],
];
const CLUSTER_CONCURRENCY = 8;
/**
 * The cluster figure's load generator: this many client processes, the loops shared between
 * them. One client process costs about what one worker does per handshake (the protocol is
 * symmetric), so a single one would cap N workers at one worker's rate.
 */
const CLUSTER_CLIENTS = 2;
/** The ratios the gate checks (peercomm ÷ node:tls), all higher-is-better. */
const GATED = ['handshake/rate', 'handshake/cpu', 'msg64/rate', 'msg1k/rate', 'msg64k/rate', 'msg1m/rate'];

function parseArgs(argv) {
  const o = { mode: 'full', reps: 5, seconds: 2, sessions: 1000, stacks: STACK_NAMES, scenarios: Object.keys(SCENARIOS), json: null, runs: 3, cluster: 2, warmup: 8 };
  const quick = () => Object.assign(o, { reps: 5, seconds: 0.5, warmup: 0, cluster: 0, stacks: ['peercomm', 'tls'], scenarios: ['handshake', 'msg64', 'msg1k', 'msg64k', 'msg1m'] });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--quick') { o.mode = 'quick'; quick(); }
    else if (a === '--check') { o.mode = 'check'; quick(); }
    else if (a === '--update-baseline') { o.mode = 'update-baseline'; quick(); }
    else if (a === '--cluster') o.cluster = /^\d+$/.test(argv[i + 1] ?? '') ? Number(next()) : 2;
    else if (a === '--reps') o.reps = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
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
  if (o.cluster === 1) fail('--cluster N compares N workers with one: N must be 2 or more (0: leave it out)');
  if (!(o.reps >= 1) || !(o.seconds > 0) || !(o.sessions >= 1) || !(o.runs >= 1) || !(o.warmup >= 0)) fail('--reps, --runs, --seconds, --sessions need positive numbers, --warmup a number of seconds');
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

/** Sums the numeric fields of several client snapshots (one load generator made of processes). */
function merged(snapshots) {
  const out = {};
  for (const snap of snapshots) for (const [k, v] of Object.entries(snap)) if (typeof v === 'number') out[k] = (out[k] ?? 0) + v;
  return out;
}

/**
 * Counter and the processes' CPU over a window after a warm-up: `clients` is one client or an
 * array of client processes (their counters and CPU summed). cpuUs is both sides; serverUs and
 * clientUs split it.
 */
async function window(server, clients, counterOf, seconds, onStart) {
  const cs = Array.isArray(clients) ? clients : [clients];
  const snap = async () => {
    const [s, ...c] = await Promise.all([server.ask('snapshot'), ...cs.map((x) => x.ask('snapshot'))]);
    return [s, merged(c), c];
  };
  await sleep(Math.min(1500, seconds * 750)); // warm-up: connections up, JIT past its first compiles
  const [s0, c0, each0] = await snap();
  onStart?.(c0, each0);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const [s1, c1, each1] = await snap();
  const dt = (performance.now() - t0) / 1000;
  const count = counterOf(s1, c1) - counterOf(s0, c0);
  const serverUs = s1.cpu - s0.cpu;
  const clientUs = c1.cpu - c0.cpu;
  return { count, dt, cpuUs: serverUs + clientUs, serverUs, clientUs, clientsEnd: each1 };
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
        Object.assign(out, await measureHandshakes(server, client, o.seconds, 1, o.warmup));
      } else if (sc.kind === 'pump') {
        await client.ask('pump', { size: sc.size });
        const w = await window(server, client, (s) => (sc.mb ? s.bytes : s.messages), o.seconds);
        await client.ask('stop');
        out[`${name}/rate`] = sc.mb ? w.count / w.dt / 1e6 : w.count / w.dt;
        out[`${name}/cpu`] = sc.mb ? w.cpuUs / 1000 / (w.count / 1e6) : (w.cpuUs * 1000) / w.count; // ms/MB or ns/msg
      } else if (sc.kind === 'api' && stack === 'peercomm') {
        for (const [key, op, args] of API_CASES) {
          await client.ask(op, { size: sc.size, ...args });
          const w = await window(server, client, (s, c) => (op === 'pump' ? s.messages : c.ops), o.seconds);
          await client.ask('stop');
          out[key] = w.count / w.dt;
        }
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

/**
 * Handshakes/s, CPU per handshake (both sides) and latency, `concurrency` client loops. First
 * `warmup` seconds of handshakes 8 at a time: a JS stack's handshake path only reaches its
 * steady (optimised) cost after a few thousand handshakes, which a long-running server has
 * done long ago (in-process: ~4.2 ms CPU per handshake in the first 4 s, ~1.9 ms after 20 s).
 */
async function measureHandshakes(server, clients, seconds, concurrency, warmup) {
  const cs = Array.isArray(clients) ? clients : [clients];
  const each = (op, args) => Promise.all(cs.map((c) => c.ask(op, args)));
  if (warmup > 0) {
    await each('handshakes', { concurrency: Math.ceil(8 / cs.length) });
    await sleep(warmup * 1000);
    await each('stop');
  }
  await each('handshakes', { concurrency: Math.ceil(concurrency / cs.length) });
  let from = 0;
  const w = await window(server, cs, (_s, c) => c.handshakes, seconds, (_c0, each0) => { from = each0[0].handshakes; });
  await each('stop');
  // Latency: the first client process's handshakes of the window.
  const lat = await cs[0].ask('latency', { from, to: w.clientsEnd[0].handshakes });
  return {
    'handshake/rate': w.count / w.dt,
    'handshake/cpu': w.cpuUs / 1000 / w.count, // ms of CPU per handshake, both sides
    'handshake/p50': lat.p50,
    'handshake/p99': lat.p99,
    'handshake/cpu-server': w.serverUs / 1000 / w.count,
    'handshake/cpu-client': w.clientUs / 1000 / w.count,
  };
}

/** peercomm's server as node:cluster workers: handshakes/s with `workers` processes, CLUSTER_CLIENTS client processes. */
async function measureCluster(o, setup, workers) {
  const server = await spawn('server', 'peercomm');
  const clients = await Promise.all(Array.from({ length: CLUSTER_CLIENTS }, () => spawn('client', 'peercomm')));
  try {
    const { port } = await server.ask('listen', { setup, cluster: workers });
    await Promise.all(clients.map((c) => c.ask('prepare', { setup, port })));
    const r = await measureHandshakes(server, clients, o.seconds, CLUSTER_CONCURRENCY, o.warmup);
    return { rate: r['handshake/rate'], cpu: r['handshake/cpu'], serverMs: r['handshake/cpu-server'], clientMs: r['handshake/cpu-client'] };
  } finally {
    await Promise.all([...clients.map((c) => c.exit()), server.exit()]);
  }
}

/** Lower-is-better figures: their ratio is inverted so every ratio reads "× better". */
const lowerIsBetter = (key) => key.includes('/cpu') || key.endsWith('/kib') || key.endsWith('/p50') || key.endsWith('/p99');

async function run(o) {
  const setups = Object.fromEntries(o.stacks.map((s) => [s, STACKS[s].setup?.() ?? {}]));
  const reps = [];
  const t0 = performance.now();
  const units = o.stacks.length + (o.cluster ? 2 : 0);
  for (let r = 0; r < o.reps; r++) {
    const order = o.stacks.map((_, i) => o.stacks[(i + r) % o.stacks.length]);
    const rep = {};
    const progress = (what, done) => {
      const elapsed = (performance.now() - t0) / 1000;
      const eta = done ? ((elapsed / done) * (o.reps * units - done)).toFixed(0) : '?';
      process.stderr.write(`[rep ${r + 1}/${o.reps}] ${what.padEnd(10)} (elapsed ${elapsed.toFixed(0)} s, ETA ${eta} s)\n`);
    };
    for (const [i, stack] of order.entries()) {
      progress(stack, r * units + i);
      rep[stack] = await measureStack(stack, o, setups[stack]);
    }
    if (o.cluster) {
      // One worker and N workers, alternating which goes first.
      const counts = r % 2 === 0 ? [1, o.cluster] : [o.cluster, 1];
      rep.cluster = {};
      for (const [i, n] of counts.entries()) {
        progress(`cluster ×${n}`, r * units + o.stacks.length + i);
        rep.cluster[n] = await measureCluster(o, setups.peercomm, n);
      }
    }
    reps.push(rep);
  }
  return summarize(o, reps);
}

function summarize(o, reps) {
  const keys = Object.keys(reps[0].peercomm);
  const rows = {};
  const api = {};
  for (const key of keys) {
    if (key.startsWith('api/')) {
      // peercomm only: a ratio to plain write() in the same repetition.
      const paired = reps.map((r) => r.peercomm[key] / r.peercomm['api/send']);
      api[key] = { value: median(reps.map((r) => r.peercomm[key])), ratio: { median: median(paired), reps: paired } };
      continue;
    }
    const row = { value: {}, ratio: {} };
    for (const stack of o.stacks) row.value[stack] = median(reps.map((r) => r[stack][key]));
    for (const other of o.stacks.filter((s) => s !== 'peercomm')) {
      const paired = reps.map((r) => (lowerIsBetter(key) ? r[other][key] / r.peercomm[key] : r.peercomm[key] / r[other][key]));
      row.ratio[other] = { median: median(paired), reps: paired };
    }
    rows[key] = row;
  }
  let cluster = null;
  if (o.cluster) {
    const n = o.cluster;
    const paired = reps.map((r) => r.cluster[n].rate / r.cluster[1].rate);
    cluster = {
      workers: n, concurrency: CLUSTER_CONCURRENCY,
      rate1: median(reps.map((r) => r.cluster[1].rate)), rateN: median(reps.map((r) => r.cluster[n].rate)),
      cpu1: median(reps.map((r) => r.cluster[1].cpu)), cpuN: median(reps.map((r) => r.cluster[n].cpu)),
      server1: median(reps.map((r) => r.cluster[1].serverMs)), client1: median(reps.map((r) => r.cluster[1].clientMs)),
      clients: CLUSTER_CLIENTS, cores: os.availableParallelism(),
      ratio: { median: median(paired), reps: paired },
    };
  }
  return { env: environment(engine()), options: { reps: o.reps, seconds: o.seconds, sessions: o.sessions }, rows, api, cluster };
}

const UNITS = { 'handshake/rate': '/s', 'handshake/cpu': 'ms CPU', 'handshake/cpu-server': 'ms CPU', 'handshake/cpu-client': 'ms CPU', 'handshake/p50': 'ms', 'handshake/p99': 'ms', 'idle/kib': 'KiB' };
function unitOf(key) {
  if (UNITS[key]) return UNITS[key];
  const sc = SCENARIOS[key.split('/')[0]];
  if (key.endsWith('/rate')) return sc.mb ? 'MB/s' : 'msg/s';
  return sc.mb ? 'ms CPU/MB' : 'ns CPU/msg';
}

function fmt(v) {
  if (v === undefined) return '–';
  if (v >= 100_000) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 100) return v.toFixed(0);
  return v.toFixed(2);
}

const API_TITLES = {
  'api/send': 'write() and drain (reference)',
  'api/ack': 'send(x, { ack: true }), 256 in flight',
  'api/request': 'request() → reply, 256 in flight',
  'api/request1': 'request() → reply, 1 in flight (round trips)',
};

function print(o, result) {
  const others = o.stacks.filter((s) => s !== 'peercomm');
  const head = ['figure', 'unit', ...o.stacks, ...others.map((s) => `× vs ${s}`)];
  const body = Object.entries(result.rows).map(([key, row]) => [
    key, unitOf(key), ...o.stacks.map((s) => fmt(row.value[s])), ...others.map((s) => `${row.ratio[s].median.toFixed(2)}×`),
  ]);
  console.log(textTable([head, ...body], head.map((_, i) => i >= 2)));
  console.log(`\n"× vs X" = peercomm's advantage over X: rate ÷ rate, or X's cost ÷ peercomm's cost for CPU, latency and memory (median of ${o.reps} paired repetitions).`);
  if (Object.keys(result.api).length > 0) {
    const apiHead = ['peercomm delivery API, 256 B', 'per second', '× write()'];
    const apiBody = Object.entries(result.api).map(([key, v]) => [API_TITLES[key], fmt(v.value), `${v.ratio.median.toFixed(3)}×`]);
    console.log(`\n${textTable([apiHead, ...apiBody], [false, true, true])}`);
  }
  const c = result.cluster;
  if (c) {
    console.log(`\nnode:cluster (examples/cluster.mjs), ${c.concurrency} client loops in ${c.clients} processes: 1 worker ${fmt(c.rate1)} handshakes/s (${c.cpu1.toFixed(2)} ms CPU each), ` +
      `${c.workers} workers ${fmt(c.rateN)}/s (${c.cpuN.toFixed(2)} ms): ${c.ratio.median.toFixed(2)}× (per repetition: ${c.ratio.reps.map((x) => x.toFixed(2)).join(' ')})`);
    // What the machine allows: n workers serve at most n ÷ server CPU, the cores at most cores ÷
    // (server + client CPU), the client processes at most clients ÷ client CPU (per handshake).
    const bound = (n) => Math.min(n / c.server1, c.cores / (c.server1 + c.client1), c.clients / c.client1);
    console.log(`  per handshake with 1 worker: server ${c.server1.toFixed(2)} ms CPU, client ${c.client1.toFixed(2)} ms (${c.clients} client processes); ` +
      `with the client on the same ${c.cores} cores, ${c.workers} workers ÷ 1 can reach at most ${(bound(c.workers) / bound(1)).toFixed(2)}× on an otherwise idle machine`);
  }
  const e = result.env;
  console.log(`node ${e.node}, OpenSSL ${e.openssl}, ${e.cpu} × ${e.cores}, load ${e.loadavg.join(' ')}`);
}

/** Each gated ratio against the baseline; returns the keys that fail. */
function gate(result, baseline) {
  const margin = baseline.margin ?? MARGIN;
  const failed = [];
  for (const key of GATED) {
    const got = result.rows[key]?.ratio.tls?.median;
    const base = baseline.ratios?.[key]?.baseline;
    if (got === undefined || base === undefined) {
      console.log(`  ${key.padEnd(16)} no figure or no baseline: FAIL`);
      failed.push(key);
      continue;
    }
    const threshold = (1 - margin) * base;
    if (got < threshold) failed.push(key);
    console.log(`  ${key.padEnd(16)} ${got.toFixed(2)}× vs node:tls  threshold ${threshold.toFixed(2)}× (baseline ${base.toFixed(2)}× − ${margin * 100}%)  ${got >= threshold ? 'ok' : 'FAIL'}`);
  }
  return failed;
}

/** --check: the quick run, gated; a failing run is measured once more (a noisy moment passes, a regression fails twice). */
async function check(o) {
  let baseline;
  try {
    baseline = JSON.parse(readFileSync(BASELINE_FILE, 'utf8'));
  } catch (err) {
    console.log(`bench:peers check FAILED: cannot read ${path.relative(process.cwd(), BASELINE_FILE)} (${err.message}); run node bench/stacks.js --update-baseline`);
    return 1;
  }
  for (let attempt = 1; attempt <= CHECK_ATTEMPTS; attempt++) {
    const result = await run(o);
    print(o, result);
    if (o.json) writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nbench:peers gate, attempt ${attempt}/${CHECK_ATTEMPTS} (peercomm ÷ node:tls, bench/baseline-stacks.json):`);
    const failed = gate(result, baseline);
    if (failed.length === 0) {
      console.log('bench:peers check PASSED');
      return 0;
    }
    console.log(`${failed.length} ratio(s) below threshold: ${failed.join(', ')}`);
  }
  console.log(`bench:peers check FAILED in all ${CHECK_ATTEMPTS} attempts`);
  return 1;
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
} else if (o.mode === 'check') {
  process.exitCode = await check(o);
} else {
  const result = await run(o);
  print(o, result);
  if (o.json) writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
}
