#!/usr/bin/env node
// npm run bench:relay: peercomm sessions through one relay against the same sessions direct,
// and the relay's CPU against plain TCP forwarding. Four processes on loopback: this one sends,
// a receiver (listening, and reserved on the relay), a relay, a plain TCP forwarder
// (bench/relay-worker.js). Per repetition and message size the three paths run in rotating
// order; every figure is a ratio paired within its repetition, the median of those is reported.
//
//   node bench/relay.js [--reps N (default 5)] [--seconds S per path (default 2)] [--json FILE]
//
// Figures: 1 MiB and 64 B messages/s relayed ÷ direct (floor at 1 MiB: ≥ 0.5); relay CPU per
// relayed MB ÷ forwarder CPU per forwarded MB (ceiling: ≤ 1.5). A run ends with an ack: true
// message, so every message counted was delivered.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Peer, engine } from '../dist/index.js';
import { environment, median } from './common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { reps: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'string' } } });
const REPS = Number(values.reps ?? 5);
const SECONDS = Number(values.seconds ?? 2);
const SIZES = [1024 * 1024, 64];

const children = [];
function start(role, arg) {
  const child = fork(path.join(here, 'relay-worker.js'), [role, String(arg ?? '')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...m }));
    child.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
}
const cpu = (w) => new Promise((r) => {
  w.child.once('message', r);
  w.child.send({ cmd: 'cpu' });
});

/** Sends `size`-byte messages for SECONDS with a bounded window, then one ack: true; messages/s. */
async function pump(session, size) {
  const payload = Buffer.alloc(size, 0x5a);
  const window = size >= 65536 ? 8 : 2048;
  const t0 = performance.now();
  let sent = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    await Promise.all(Array.from({ length: window }, () => session.send(payload, { type: 'task' })));
    sent += window;
  }
  await session.send(payload, { type: 'task', ack: true });
  return (sent + 1) / ((performance.now() - t0) / 1000);
}

try {
  const relay = await start('relay');
  const relayAddr = `127.0.0.1:${relay.port}`;
  const receiver = await start('receiver', relayAddr);
  const forward = await start('forward', receiver.port);
  const key = Buffer.from(receiver.key, 'hex');
  const a = await Peer.create({ rateLimits: { classes: { task: 'unlimited', chunk: 'unlimited' } } });
  const open = {
    direct: () => a.connect(`127.0.0.1:${receiver.port}`),
    relay: () => a.connectVia([relayAddr], key),
    forward: () => a.connect(`127.0.0.1:${forward.port}`),
  };
  const ratios = { msgs: Object.fromEntries(SIZES.map((s) => [s, []])), cpuPerMB: [] };
  const raw = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const size of SIZES) {
      const order = ['direct', 'relay', 'forward'];
      for (let i = 0; i < rep % 3; i++) order.push(order.shift());
      const r = {};
      for (const p of order) {
        const session = await open[p]();
        const mid = p === 'relay' ? relay : p === 'forward' ? forward : null;
        const before = mid ? await cpu(mid) : null;
        const rate = await pump(session, size);
        const after = mid ? await cpu(mid) : null;
        await session.close();
        r[p] = { rate, cpuPerMB: mid ? (after.cpu - before.cpu) / ((after.bytes - before.bytes) / 2 ** 20) : null };
      }
      ratios.msgs[size].push(r.relay.rate / r.direct.rate);
      ratios.cpuPerMB.push(r.relay.cpuPerMB / r.forward.cpuPerMB);
      raw.push({ rep, size, ...r });
      process.stderr.write(`rep ${rep + 1}/${REPS} ${size} B: direct ${r.direct.rate.toFixed(0)}/s relay ${r.relay.rate.toFixed(0)}/s forward ${r.forward.rate.toFixed(0)}/s; CPU/MB relay ${r.relay.cpuPerMB.toFixed(0)} µs forward ${r.forward.cpuPerMB.toFixed(0)} µs\n`);
    }
  }
  await a.close();
  const out = {
    env: environment(engine), reps: REPS, seconds: SECONDS,
    msgs1MiBRatio: median(ratios.msgs[1024 * 1024]), msgs64BRatio: median(ratios.msgs[64]), relayCpuPerMBRatio: median(ratios.cpuPerMB),
    perRep: { msgs1MiB: ratios.msgs[1024 * 1024], msgs64B: ratios.msgs[64], cpuPerMB: ratios.cpuPerMB }, raw,
  };
  console.log(`relayed ÷ direct, 1 MiB messages/s: ${out.msgs1MiBRatio.toFixed(2)}× (floor 0.5×) ${out.msgs1MiBRatio >= 0.5 ? 'met' : 'NOT met'}`);
  console.log(`relayed ÷ direct, 64 B messages/s:  ${out.msgs64BRatio.toFixed(2)}×`);
  console.log(`relay CPU per relayed MB ÷ plain TCP forwarding: ${out.relayCpuPerMBRatio.toFixed(2)}× (ceiling 1.5×) ${out.relayCpuPerMBRatio <= 1.5 ? 'met' : 'NOT met'}`);
  console.log(`per repetition: 1 MiB ${out.perRep.msgs1MiB.map((x) => x.toFixed(2)).join(' ')}; 64 B ${out.perRep.msgs64B.map((x) => x.toFixed(2)).join(' ')}; CPU ${out.perRep.cpuPerMB.map((x) => x.toFixed(2)).join(' ')}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2));
} finally {
  for (const c of children) c.kill();
}
