// One side of a bench:stacks measurement, forked by bench/stacks.js (run with --expose-gc).
//   node bench/stacks-lib/worker.js server <stack>   listens; counts messages and bytes
//   node bench/stacks-lib/worker.js client <stack>   connects as told; pumps, handshakes or idles
// It answers the parent's requests over IPC: { id, op, ... } → { id, ...result }. Every answer
// carries this process's CPU time (user + system, µs) so the parent can charge both sides.
import { STACKS } from './stacks.js';

const [role, stackName] = process.argv.slice(2);
const stack = STACKS[stackName];
if (!stack || (role !== 'server' && role !== 'client')) {
  console.error('usage: worker.js server|client <stack>');
  process.exit(2);
}

const counters = { messages: 0, bytes: 0 };
let server = null;
let client = null;
const open = [];
let stopping = false;
let pumping = null;

function cpu() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function rss() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

/** Sequential handshakes until stopped: connect (authenticated), close, again. */
async function handshakes() {
  counters.handshakes = 0;
  while (!stopping) {
    const conn = await client.connect(currentPort);
    counters.handshakes++;
    await conn.close();
  }
}

let currentPort = 0;

const ops = {
  async listen({ setup }) {
    server = await stack.server({
      onMessage(size) {
        counters.messages++;
        if (size > 0) counters.bytes += size;
      },
    }, setup);
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
  async handshakes() {
    stopping = false;
    pumping = handshakes();
    return {};
  },
  /** Opens `count` connections and keeps them idle. */
  async idle({ count }) {
    for (let i = 0; i < count; i++) open.push(await client.connect(currentPort));
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
