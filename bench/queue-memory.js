#!/usr/bin/env node
// The offline queue's memory with 1,000,000 messages queued (issue 13: "memory bounded"), per
// backend (SQLite file; Redis with AOF, started here in a temp dir), the sender measured in its
// own process after full GCs:
//   fill       one sender process delivers 1,000,000 × 1 KiB to 'bob', who is down: RSS at
//              every 100,000 queued, as a ratio to the same process's RSS before its first
//              deliver() (the reference, same run)
//   restart    that process SIGKILLed, a new one opens the same outbox (1,000,000 pending) and
//              runs its polls and retries for 5 s: its RSS ÷ the reference
//   deliver    bob comes up (a receiver process); for 15 s the restarted sender delivers from
//              the full outbox (leases of one window, acks): its peak RSS ÷ the reference, and
//              how many it delivered in each second (a stall shows; on Redis, with whether an
//              AOF rewrite was running)
// A sender that loaded its outbox would grow by ≥ 1 GiB; one that keeps a window stays flat.
// Usage: node --expose-gc bench/queue-memory.js [--count N] [--size B] [--backend sqlite|redis]
//        [--deliver-seconds S]. Needs dist/ (npm run bench:queue-memory builds it).
import { fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Peer } from '../dist/index.js';

const { values: args } = parseArgs({
  args: process.argv.slice(process.argv[2] === 'sender' || process.argv[2] === 'receiver' ? 4 : 2),
  options: { count: { type: 'string' }, size: { type: 'string' }, backend: { type: 'string' }, 'deliver-seconds': { type: 'string' } },
});
const COUNT = Number(args.count ?? 1_000_000);
const SIZE = Number(args.size ?? 1024);
const DELIVER_SECONDS = Number(args['deliver-seconds'] ?? 15);
const BATCH = 10_000;
const QUOTA = { messages: 10_000_000, bytes: 64 * 1024 ** 3 };
const NO_LIMITS = { classes: { handshake: 'unlimited', heartbeat: 'unlimited', task: 'unlimited', discovery: 'unlimited', chunk: 'unlimited' } };
const MiB = 1024 ** 2;
const mib = (b) => `${(b / MiB).toFixed(0)} MiB`;

/** RSS and heap after two full GCs (the script runs with --expose-gc). */
function memory() {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** The measured process: 'alice', whose outbox fills while 'bob' is down. */
async function sender(o) {
  // Without limits: bob's acks (queue_ack, class heartbeat: 60/min, burst 120) would be refused
  // after 120 ack messages, which stalled delivery after ~50,000 until each ack timeout.
  const peer = await Peer.create({ entityId: 'alice', rateLimits: NO_LIMITS, queue: { ...o.queue, quota: QUOTA, routes: { bob: `127.0.0.1:${o.port}` }, backoff: { minMs: 250, maxMs: 1000 } } });
  peer.queue.on('error', () => undefined);
  process.on('message', async (m) => {
    if (m.sample) {
      const s = await peer.queue.stats();
      process.send({ sample: memory(), pending: s.pending, delivered: s.delivered });
    }
  });
  process.send({ ready: memory() });
  const payload = Buffer.alloc(SIZE, 7);
  for (let i = 0; i < o.fill; i += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, o.fill - i) }, () => peer.deliver('bob', payload)));
    if ((i + BATCH) % 100_000 === 0 || i + BATCH >= o.fill) process.send({ queued: Math.min(i + BATCH, o.fill), memory: memory() });
  }
}

async function receiver(o) {
  const peer = await Peer.create({ entityId: 'bob', rateLimits: NO_LIMITS, queue: { path: o.path } });
  await peer.listen({ host: '127.0.0.1', port: o.port });
  process.send({ ready: true });
}

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A child of this script in `role`; resolves with it once it reported ready. */
async function child(role, o) {
  const c = fork(new URL(import.meta.url).pathname, [role, JSON.stringify(o), ...process.argv.slice(2)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise((resolve, reject) => {
    c.once('message', (m) => resolve(m.ready));
    c.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  return { c, ready };
}

function sample(c) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (!m.sample) return;
      c.off('message', on);
      resolve(m);
    };
    c.on('message', on);
    c.send({ sample: true });
  });
}

async function kill(c) {
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}

/** A redis-server with AOF (everysec) in `dir`, or null without the binary. */
async function redisServer(dir) {
  const bin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (bin === '') return null;
  const port = await freePort();
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--logfile', ''], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
    if (up) break;
    if (i === 200) throw new Error(`redis-server did not come up on ${url}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  /** One INFO field of redis-server (a number), e.g. its RSS or whether an AOF rewrite runs. */
  const info = (section, field) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`INFO ${section}\r\n`));
    let text = '';
    s.on('data', (d) => {
      text += d;
      const m = new RegExp(`${field}:(\\d+)`).exec(text);
      if (m) { s.destroy(); resolve(Number(m[1])); }
    });
  });
  return { proc, url, rss: () => info('memory', 'used_memory_rss'), info };
}

async function run(backend, dir) {
  const redis = backend === 'redis' ? await redisServer(dir) : null;
  if (backend === 'redis' && redis === null) return console.log('redis: skipped (no redis-server on PATH)');
  const queue = redis ? { redis: { url: redis.url, prefix: 'mem' } } : { path: path.join(dir, 'alice.queue.db') };
  const port = await freePort();
  const t0 = Date.now();
  const first = await child('sender', { queue, port, fill: COUNT });
  const ref = first.ready.rss;
  const fill = [];
  await new Promise((resolve) => first.c.on('message', (m) => {
    if (m.queued === undefined) return;
    fill.push({ queued: m.queued, ...m.memory });
    const line = `${backend}: ${m.queued.toLocaleString('en-US')} / ${COUNT.toLocaleString('en-US')} queued, sender RSS ${mib(m.memory.rss)} (${(m.memory.rss / ref).toFixed(2)}× its RSS before the first deliver), ${((Date.now() - t0) / 1000).toFixed(0)} s`;
    process.stdout.write(process.stdout.isTTY ? `\r${line}   ` : `${line}\n`);
    if (m.queued >= COUNT) resolve();
  }));
  if (process.stdout.isTTY) process.stdout.write('\n');
  const fillSeconds = (Date.now() - t0) / 1000;
  await kill(first.c);

  const second = await child('sender', { queue, port, fill: 0 });
  await new Promise((r) => setTimeout(r, 5000));
  const restarted = await sample(second.c);
  const rx = await child('receiver', { path: path.join(dir, 'bob.queue.db'), port });
  let peak = restarted.sample.rss;
  let last = restarted;
  // Delivered per second, so that a stall shows (and, on Redis, whether an AOF rewrite ran then).
  const rates = [];
  let rewriting = 0;
  const delayed0 = redis ? await redis.info('persistence', 'aof_delayed_fsync') : 0;
  for (let s = 0; s < DELIVER_SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    const before = last.delivered;
    last = await sample(second.c);
    rates.push(last.delivered - before);
    peak = Math.max(peak, last.sample.rss);
    if (redis && (await redis.info('persistence', 'aof_rewrite_in_progress')) === 1) rewriting++;
  }
  const sorted = [...rates].sort((a, b) => a - b);
  // aof_delayed_fsync: times Redis (everysec) found its last fsync still running after 2 s and wrote anyway.
  const aof = redis ? `; AOF rewrite running in ${rewriting} of ${DELIVER_SECONDS} s, fsync late ${(await redis.info('persistence', 'aof_delayed_fsync')) - delayed0} times` : '';
  const perSecond = `per second: ${rates.join(' ')} (median ${sorted[Math.floor(sorted.length / 2)]})${aof}`;
  const store = redis ? `redis-server RSS ${mib(await redis.rss())}` : `database ${mib(statSync(queue.path).size)}`;
  await kill(second.c);
  await kill(rx.c);
  redis?.proc.kill('SIGKILL');
  const peakFill = Math.max(...fill.map((f) => f.rss));
  return {
    backend, fillSeconds, ref, store, perSecond,
    rows: [
      ['empty outbox (reference)', ref, ''],
      ...fill.filter((f) => f.queued === 100_000 || f.queued % 500_000 === 0 || f.queued === COUNT).map((f) => [`${f.queued.toLocaleString('en-US')} queued`, f.rss, `heap ${mib(f.heap)}`]),
      ['peak while filling', peakFill, ''],
      [`restarted, ${restarted.pending.toLocaleString('en-US')} pending, 5 s`, restarted.sample.rss, `heap ${mib(restarted.sample.heap)}`],
      [`delivering ${DELIVER_SECONDS} s (peak; ${last.delivered.toLocaleString('en-US')} delivered)`, peak, `${last.pending.toLocaleString('en-US')} left`],
    ],
  };
}

async function main() {
  const backends = args.backend ? [args.backend] : ['sqlite', 'redis'];
  console.log(`${COUNT.toLocaleString('en-US')} × ${SIZE} B queued, sender RSS after full GCs; Node ${process.version}, load average ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
  for (const backend of backends) {
    const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-queue-memory-'));
    try {
      const r = await run(backend, dir);
      if (!r) continue;
      console.log(`\n${backend}: filled in ${r.fillSeconds.toFixed(0)} s (${Math.round(COUNT / r.fillSeconds).toLocaleString('en-US')} msg/s), ${r.store}; delivered ${r.perSecond}`);
      console.log('| sender | RSS | ÷ empty | |\n|---|---:|---:|---|');
      for (const [what, rss, note] of r.rows) console.log(`| ${what} | ${mib(rss)} | ${(rss / r.ref).toFixed(2)}× | ${note} |`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (process.argv[2] === 'sender') await sender(JSON.parse(process.argv[3]));
else if (process.argv[2] === 'receiver') await receiver(JSON.parse(process.argv[3]));
else await main();
