#!/usr/bin/env node
// Delivery API over loopback TCP, in one run, every figure a ratio to plain send() measured in
// the same run (interleaved rounds, medians):
//   send       plain send(): resolves when queued; the receiver counts arrivals (the reference)
//   ack        send(x, { ack: true }): resolves when the remote application accepted it
//   request    session.request(x) → reply, `window` requests in flight (and 1 in flight: latency)
// Usage: node bench/peers-api.js [--size 256] [--count 20000] [--rounds 3]. Needs dist/ (npm run build).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Peer } from '../dist/index.js';

const { values } = parseArgs({ options: { size: { type: 'string' }, count: { type: 'string' }, rounds: { type: 'string' } } });
const SIZE = Number(values.size ?? 256);
const COUNT = Number(values.count ?? 20_000);
const ROUNDS = Number(values.rounds ?? 3);
const WINDOW = 256;
const NO_LIMITS = { classes: { task: 'unlimited', heartbeat: 'unlimited', discovery: 'unlimited', chunk: 'unlimited' } };

const server = await Peer.create({ entityId: 'server', rateLimits: NO_LIMITS });
const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
const client = await Peer.create({ entityId: 'client', rateLimits: NO_LIMITS });
const session = await client.connect({ host: '127.0.0.1', port });
server.on('request', (req) => void req.reply(req.payload));
const payload = Buffer.alloc(SIZE, 0x61);

async function plain() {
  let got = 0;
  const done = new Promise((resolve) => {
    const on = () => {
      if (++got === COUNT) {
        server.off('message', on);
        resolve();
      }
    };
    server.on('message', on);
  });
  for (let i = 0; i < COUNT; i++) {
    const p = session.send(payload, { type: 'task' });
    if (i % WINDOW === WINDOW - 1) await p;
  }
  await done;
}

async function windowed(op, count = COUNT, window = WINDOW) {
  const inflight = new Set();
  for (let i = 0; i < count; i++) {
    const p = op().finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

const cases = {
  'send() (reference)': () => plain(),
  'send(x, { ack: true })': () => windowed(() => session.send(payload, { type: 'task', ack: true })),
  'request() → reply, 256 in flight': () => windowed(() => session.request(payload, { type: 'task' })),
  'request() → reply, 1 in flight': () => windowed(() => session.request(payload, { type: 'task' }), Math.ceil(COUNT / 10), 1),
};
const counts = { 'request() → reply, 1 in flight': Math.ceil(COUNT / 10) };
const rates = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const name of Object.keys(cases)) await cases[name](); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, run] of Object.entries(cases)) {
    const t = performance.now();
    await run();
    rates[name].push((counts[name] ?? COUNT) / ((performance.now() - t) / 1000));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ref = median(rates['send() (reference)']);
console.log(`peercomm delivery API, loopback TCP, ${SIZE} B payloads, ${COUNT} messages per case, median of ${ROUNDS} interleaved rounds, Node ${process.version}`);
for (const name of Object.keys(cases)) {
  const m = median(rates[name]);
  console.log(`  ${name.padEnd(36)} ${Math.round(m).toLocaleString('en-US').padStart(10)} /s   ${(m / ref).toFixed(3)}x of send()`);
}
await client.close();
await server.close();
