#!/usr/bin/env node
// The offline queue's throughput, end to end and durable, sender and receiver in separate
// processes (this one sends, a child receives), 1 KiB messages, each figure a ratio to plain
// session.send() and to send({ ack: true }) measured in the same run, in interleaved rounds
// (medians):
//   send        session.send(1 KiB) until the receiver has them all
//   send+ack    session.send(1 KiB, { ack: true }) with 1,024 outstanding, until every ack is in
//   sqlite      peer.deliver() into a SQLite outbox until every entry was acknowledged by the
//               receiving application (its own SQLite seen set) and removed; synchronous=NORMAL
//               (the default) and FULL (durability: 'full') on both sides
//   redis       the same with both queues on a redis-server (AOF on) that this script starts in
//               a temporary directory: appendfsync everysec (Redis' default) and always
// For each queued case also the CPU time per message of the sender, the receiver and
// redis-server (from /proc), which does not depend on how busy the machine is.
// Then: 1,000,000 messages queued to an unreachable recipient (SQLite): the sender's memory.
// Usage: node bench/queue.js [--quick] [--no-million] [--rounds R] [--n N] [--cases sqlite,sqliteFull,redis,redisAlways].
// Needs dist/ (npm run build).
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Peer } from '../dist/index.js';

const NO_LIMITS = { classes: { handshake: 'unlimited', heartbeat: 'unlimited', task: 'unlimited', discovery: 'unlimited', chunk: 'unlimited' } };
const SIZE = 1024;
const quick = process.argv.includes('--quick');
function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const ROUNDS = Number(arg('--rounds') ?? (quick ? 1 : 3));
const N = Number(arg('--n') ?? (quick ? 10_000 : 30_000));
/** --cases sqlite,redis: only these queued cases (by name), e.g. for a profile. */
const ONLY = arg('--cases')?.split(',');
const BIG_QUOTA = { messages: 2_000_000, bytes: 4 * 1024 ** 3 };
const payload = Buffer.alloc(SIZE, 7);

/**
 * The receiving process: counts plain messages and queued ones. { expect } resets the count and is
 * answered { armed } at once (the sender starts only then: messages that overtook the IPC message
 * would not be counted), then { reached } with its CPU time since.
 */
async function receiver() {
  const opts = JSON.parse(process.argv[3]);
  const peer = await Peer.create({ entityId: 'bob', rateLimits: NO_LIMITS, queue: { ...opts.queue, quota: BIG_QUOTA } });
  let plain = 0;
  let queued = 0;
  let want = null;
  let cpu0 = process.cpuUsage();
  const check = () => {
    if (want !== null && (want.kind === 'queued' ? queued : plain) >= want.n) {
      want = null;
      const cpu = process.cpuUsage(cpu0);
      process.send({ reached: true, cpuMs: (cpu.user + cpu.system) / 1000 });
    }
  };
  peer.on('message', () => { plain++; check(); });
  peer.queue.on('message', () => { queued++; check(); });
  process.on('message', (m) => {
    if (m.expect) { plain = 0; queued = 0; want = m.expect; cpu0 = process.cpuUsage(); process.send({ armed: true }); }
    if (m.exit) void peer.close().then(() => process.exit(0)); // exits (not killed) so --cpu-prof writes its profile
  });
  process.on('disconnect', () => process.exit(1)); // the benchmark died: do not linger
  const { port } = await peer.listen({ host: '127.0.0.1', port: 0 });
  process.send({ port });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startReceiver(queue) {
  const child = fork(new URL(import.meta.url).pathname, ['receiver', JSON.stringify({ queue })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise((r) => child.once('message', r));
  /** Arms the receiver's count; resolves once it is armed, with { reached } (its report, later). */
  const expect = async (kind, n) => {
    const armed = new Promise((r) => child.once('message', r));
    child.send({ expect: { kind, n } });
    await armed;
    return { reached: new Promise((r) => child.once('message', r)) };
  };
  return { child, port, expect };
}

async function startRedis(dir, appendfsync) {
  const bin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (bin === '') return null;
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', appendfsync, '--logfile', ''], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
      s.once('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: `redis://127.0.0.1:${port}` };
}

/**
 * One run of `fn` sending N messages (it resolves with the receiver's report): msgs/s, and the
 * CPU time per message of this process, the receiver and redis-server (if any).
 */
/** What is being measured (named when it stalls), and how long a run may take at most (1,000 msgs/s). */
let current = '';
const STALL_SECONDS = Math.max(120, N / 1000);

async function timed(fn, redisPid) {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const redis0 = procCpuMs(redisPid);
  // A run that never ends (a lost message or ack) fails the benchmark with its name, not a silent hang.
  let timer;
  const stalled = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench:queue: ${current} did not finish in ${STALL_SECONDS} s; stopped`)), STALL_SECONDS * 1000);
  });
  const report = await Promise.race([fn(), stalled]).finally(() => clearTimeout(timer));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const us = (ms) => (ms * 1000) / N;
  return { rate: N / seconds, cpu: { sender: us((cpu.user + cpu.system) / 1000), receiver: us(report.cpuMs), redis: redisPid ? us(procCpuMs(redisPid) - redis0) : 0 } };
}

async function plainSend(rx, session) {
  const { reached } = await rx.expect('plain', N);
  return timed(async () => {
    for (let i = 0; i < N; i++) await session.send(payload);
    return reached;
  });
}

async function ackSend(rx, session) {
  const { reached } = await rx.expect('plain', N);
  return timed(async () => {
    const window = new Set();
    for (let i = 0; i < N; i++) {
      const p = session.send(payload, { ack: true }).finally(() => window.delete(p));
      window.add(p);
      if (window.size >= 1024) await Promise.race(window);
    }
    await Promise.all(window);
    return reached;
  });
}

/** deliver() of N messages until every one was acknowledged by the receiving application and removed. */
async function queued(rx, sender, redisPid) {
  const { reached } = await rx.expect('queued', N);
  let delivered = 0;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  const on = () => { if (++delivered === N) resolveAll(); };
  sender.queue.on('delivered', on);
  const result = await timed(async () => {
    for (let i = 0; i < N; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 1000); j++) batch.push(sender.deliver('bob', payload));
      await Promise.all(batch);
    }
    return (await Promise.all([all, reached]))[1];
  }, redisPid);
  sender.queue.off('delivered', on);
  return result;
}

/** CPU time (user + system, ms) of another process, from /proc (Linux); 0 elsewhere. */
function procCpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return 0;
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US');

/** The queued cases: backend, durability, floor. */
const ALL_CASES = [
  { name: 'sqlite', label: 'SQLite, synchronous=NORMAL (default)', floor: 20_000 },
  { name: 'sqliteFull', label: 'SQLite, synchronous=FULL (durability: full)', floor: 20_000 },
  { name: 'redis', label: 'Redis, AOF appendfsync everysec (default)', floor: 15_000 },
  { name: 'redisAlways', label: 'Redis, AOF appendfsync always', floor: 15_000 },
];
const CASES = ALL_CASES.filter((c) => ONLY === undefined || ONLY.includes(c.name));

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-bench-queue-'));
  const redis = { redis: await startRedis(dir, 'everysec'), redisAlways: await startRedis(path.join(dir, 'always'), 'always') };
  process.on('exit', () => { for (const r of Object.values(redis)) r?.child.kill(); }); // also when a run stalls
  const receivers = {
    sqlite: await startReceiver({ path: path.join(dir, 'rx.db') }),
    sqliteFull: await startReceiver({ path: path.join(dir, 'rx-full.db'), durability: 'full' }),
  };
  const routes = (name) => ({ bob: `127.0.0.1:${receivers[name].port}` });
  const senders = {
    sqlite: await Peer.create({ entityId: 'alice', rateLimits: NO_LIMITS, queue: { path: path.join(dir, 'tx.db'), quota: BIG_QUOTA, routes: routes('sqlite') } }),
    sqliteFull: await Peer.create({ entityId: 'alice', rateLimits: NO_LIMITS, queue: { path: path.join(dir, 'tx-full.db'), durability: 'full', quota: BIG_QUOTA, routes: routes('sqliteFull') } }),
  };
  for (const name of ['redis', 'redisAlways']) {
    if (!redis[name]) continue;
    receivers[name] = await startReceiver({ redis: { url: redis[name].url, prefix: 'rx' } });
    senders[name] = await Peer.create({ entityId: 'carol', rateLimits: NO_LIMITS, queue: { redis: { url: redis[name].url, prefix: 'tx' }, quota: BIG_QUOTA, routes: routes(name) } });
  }
  const client = await Peer.create({ entityId: 'plain', rateLimits: NO_LIMITS });
  const session = await client.connect({ host: '127.0.0.1', port: receivers.sqlite.port });
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    current = `round ${round + 1}: send()`;
    const r = { send: await plainSend(receivers.sqlite, session) };
    current = `round ${round + 1}: send({ ack: true })`;
    r.ack = await ackSend(receivers.sqlite, session);
    for (const c of CASES) {
      current = `round ${round + 1}: deliver() ${c.label}`;
      if (senders[c.name]) r[c.name] = await queued(receivers[c.name], senders[c.name], redis[c.name]?.child.pid);
    }
    rounds.push(r);
  }
  console.log(`bench:queue — ${N.toLocaleString('en-US')} × 1 KiB per run, ${ROUNDS} interleaved round(s); medians of the per-round figures and of the ratios paired within each round; node ${process.version}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log('| path | msgs/s | vs send() | vs send({ ack: true }) | CPU µs/msg: sender / receiver / redis-server | floor |');
  console.log('|---|---:|---:|---:|---:|---|');
  const med = (f) => median(rounds.map(f));
  const cpu = (name) => ['sender', 'receiver', 'redis'].map((p) => med((r) => r[name].cpu[p]).toFixed(0)).join(' / ');
  const row = (name, label, floor) => {
    const v = med((r) => r[name].rate);
    const verdict = floor === undefined ? '' : `≥ ${fmt(floor)}: ${v >= floor ? 'met' : 'NOT met'}`;
    console.log(`| ${label} | ${fmt(v)} | ${med((r) => r[name].rate / r.send.rate).toFixed(2)}× | ${med((r) => r[name].rate / r.ack.rate).toFixed(2)}× | ${cpu(name)} | ${verdict} |`);
  };
  row('send', 'session.send()');
  row('ack', 'session.send({ ack: true }), 1,024 outstanding');
  for (const c of CASES) {
    if (senders[c.name]) row(c.name, `deliver() ${c.label}`, c.floor);
    else console.log(`| deliver() ${c.label} | skipped: no redis-server | | | | |`);
  }
  console.log(`per round (msgs/s): ${rounds.map((r) => Object.entries(r).map(([k, v]) => `${k} ${fmt(v.rate)}`).join(', ')).join(' | ')}`);
  await client.close();
  for (const s of Object.values(senders)) await s.close();
  await Promise.all(Object.values(receivers).map((rx) => new Promise((r) => { rx.child.once('exit', r); rx.child.send({ exit: true }); })));
  if (!process.argv.includes('--no-million') && !quick) await million(dir);
  for (const r of Object.values(redis)) r?.child.kill();
  rmSync(dir, { recursive: true, force: true });
}

/** 1,000,000 × 1 KiB queued to a recipient that cannot be reached: the sender's memory stays flat. */
async function million(dir) {
  const peer = await Peer.create({ entityId: 'hoarder', queue: { path: path.join(dir, 'million.db'), quota: BIG_QUOTA, backoff: { minMs: 60_000, maxMs: 60_000 } } });
  const mb = (x) => `${(x / 1024 ** 2).toFixed(0)} MiB`;
  global.gc?.();
  const before = process.memoryUsage();
  const t0 = Date.now();
  let peak = 0;
  for (let i = 0; i < 1_000_000; i += 10_000) {
    const batch = [];
    for (let j = 0; j < 10_000; j++) batch.push(peer.deliver('offline-agent', payload));
    await Promise.all(batch);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  global.gc?.();
  const after = process.memoryUsage();
  const s = await peer.queue.stats();
  console.log(`\n1,000,000 × 1 KiB queued (SQLite, recipient unreachable) in ${((Date.now() - t0) / 1000).toFixed(1)} s: pending ${s.pending.toLocaleString('en-US')}, ` +
    `database ${mb(statSync(path.join(dir, 'million.db')).size)}; sender RSS ${mb(before.rss)} before, ${mb(after.rss)} after (peak ${mb(peak)}), heap used ${mb(before.heapUsed)} → ${mb(after.heapUsed)}`);
  await peer.close();
}

if (process.argv[2] === 'receiver') await receiver();
else await main();
