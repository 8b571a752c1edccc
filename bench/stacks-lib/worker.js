// One side of a bench:peers measurement, forked by bench/stacks.js (run with --expose-gc).
//   node bench/stacks-lib/worker.js server <stack>   listens; counts messages and bytes
//   node bench/stacks-lib/worker.js client <stack>   connects as told; pumps, handshakes or idles
// It answers the parent's requests over IPC: { id, op, ... } → { id, ...result }. Every answer
// carries this process's CPU time (user + system, µs) so the parent can charge both sides (plus
// its cluster workers' when the server runs as examples/cluster.mjs).
import { API_WINDOW, STACKS } from './stacks.js';

const [role, stackName] = process.argv.slice(2);
const stack = STACKS[stackName];
if (!stack || (role !== 'server' && role !== 'client')) {
  console.error('usage: worker.js server|client <stack>');
  process.exit(2);
}

const counters = { messages: 0, bytes: 0, handshakes: 0, ops: 0 };
/** ms from connect() to authenticated, per handshake, in order. */
const latencies = [];
let server = null;
let client = null;
const open = [];
let stopping = false;
let pumping = null;

function cpu() {
  const u = process.cpuUsage();
  return u.user + u.system + (server?.cpuUs?.() ?? 0);
}

function rss() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

/** Sequential handshakes until stopped: connect (authenticated), close, again. */
async function handshakes() {
  while (!stopping) {
    const t = performance.now();
    const conn = await client.connect(currentPort);
    latencies.push(performance.now() - t);
    counters.handshakes++;
    await conn.close();
  }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

let currentPort = 0;

const ops = {
  async listen({ setup, cluster }) {
    server = await stack.server({
      onMessage(size) {
        counters.messages++;
        if (size > 0) counters.bytes += size;
      },
    }, setup, { cluster });
    return { port: server.port };
  },
  async prepare({ setup, port }) {
    client = await stack.client({}, setup);
    currentPort = port;
    return {};
  },
  /** Starts pumping `size`-byte messages on one connection (answers once connected). */
  async pump({ size }) {
    const conn = await client.connect(currentPort);
    open.push(conn);
    const payload = Buffer.alloc(size, 7);
    stopping = false;
    pumping = conn.pump(payload, () => stopping);
    return {};
  },
  /** `concurrency` loops of sequential handshakes. */
  async handshakes({ concurrency = 1 }) {
    stopping = false;
    pumping = Promise.all(Array.from({ length: concurrency }, handshakes));
    return {};
  },
  /** Median and 99th percentile of the handshake latencies recorded from index `from` to `to`. */
  async latency({ from, to }) {
    const xs = latencies.slice(from, to).sort((a, b) => a - b);
    return { p50: pct(xs, 0.5), p99: pct(xs, 0.99) };
  },
  /** The delivery API on one connection (peercomm): `ack` or `request`, `window` in flight. */
  async api({ mode, size, window = API_WINDOW }) {
    const conn = await client.connect(currentPort);
    open.push(conn);
    const payload = Buffer.alloc(size, 0x61);
    stopping = false;
    pumping = conn.api(mode, payload, window, () => stopping, () => { counters.ops++; });
    return {};
  },
  /** Opens `count` connections, 16 handshakes at a time, and keeps them idle. */
  async idle({ count }) {
    let next = 0;
    const opener = async () => {
      while (next < count) {
        next++;
        open.push(await client.connect(currentPort));
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, count) }, opener));
    return { opened: open.length };
  },
  async snapshot() {
    return { ...counters };
  },
  async rss() {
    return { rss: rss() };
  },
  async stop() {
    stopping = true;
    await pumping;
    pumping = null;
    return {};
  },
  async exit() {
    stopping = true;
    await pumping?.catch(() => {});
    await Promise.allSettled(open.map((c) => c.close()));
    await client?.close();
    await server?.close();
    setImmediate(() => process.exit(0));
    return {};
  },
};

process.on('message', async (req) => {
  const before = cpu();
  try {
    const result = await ops[req.op](req);
    process.send({ id: req.id, cpu: cpu(), cpuBefore: before, ...result });
  } catch (err) {
    process.send({ id: req.id, error: String(err?.stack ?? err) });
  }
});
process.send({ ready: true });
