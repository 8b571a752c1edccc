// The four stacks bench:peers (bench/stacks.js) compares, behind one interface so every scenario drives them alike:
//
//   const srv = await STACKS[name].server({ onMessage(size) }, setup)  → { port, info, close() }
//   const cli = await STACKS[name].client(info, setup)                 → { connect(port), close() }
//   const conn = await cli.connect(port)   resolves once the handshake is complete (authenticated)
//   await conn.pump(payload, stop)         sends payload as fast as the stack lets it until stop()
//   await conn.close()
//
// tcp     length-prefixed frames (u32 big-endian length ‖ payload), writes coalesced into ~64 KiB
// tls     node:tls 1.3, TLS_AES_256_GCM_SHA384, Ed25519 certificates made at run time, mutual
//         authentication, each side pinning the other's certificate; the same framing inside
// secret  @hyperswarm/secret-stream (Noise XX, Ed25519 keys, libsodium secretstream), one
//         message per write, each side checking the other's public key
// peercomm  Peer sessions, each side pinning the other (trusted: no rate limits), loopback exempt
//         from the listener's per-address limits; pumped with session.write() and 'drain' (as
//         tcp and tls are with socket.write()), received with the 'messages' batch event; its
//         server can also run as examples/cluster.mjs (node:cluster workers on one port:
//         `server(hooks, setup, { cluster: n })`), and its connections add `api()` (send with
//         ack, request → reply) for the delivery-API figures
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import SecretStream from '@hyperswarm/secret-stream';
import { Identity, Peer } from '../../dist/index.js';

const HOST = '127.0.0.1';
const BATCH_BYTES = 64 * 1024;

/** Counts u32-length-prefixed frames in a byte stream (the reference framing of tcp and tls). */
function frameCounter(onMessage) {
  let need = -1;
  let length = 0;
  let header = Buffer.alloc(4);
  let headerHave = 0;
  return (chunk) => {
    let at = 0;
    while (at < chunk.length) {
      if (need < 0) {
        const take = Math.min(4 - headerHave, chunk.length - at);
        chunk.copy(header, headerHave, at, at + take);
        headerHave += take;
        at += take;
        if (headerHave < 4) return;
        need = header.readUInt32BE(0);
        length = need;
        headerHave = 0;
        if (need === 0) { onMessage(0); need = -1; }
        continue;
      }
      const take = Math.min(need, chunk.length - at);
      need -= take;
      at += take;
      if (need === 0) {
        need = -1;
        onMessage(length);
      }
    }
  };
}

/** Writes framed copies of payload, coalesced into ~64 KiB writes, honouring 'drain'. */
async function pumpFramed(socket, payload, stop) {
  const frame = 4 + payload.length;
  const perWrite = Math.max(1, Math.floor(BATCH_BYTES / frame));
  while (!stop()) {
    const batch = Buffer.allocUnsafe(perWrite * frame);
    for (let i = 0, at = 0; i < perWrite; i++, at += frame) {
      batch.writeUInt32BE(payload.length, at);
      payload.copy(batch, at + 4);
    }
    if (!socket.write(batch)) await once(socket, 'drain');
  }
}

function closeSocket(socket) {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', resolve);
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

function tracked(server) {
  const open = new Set();
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
  });
  return async () => {
    for (const s of open) s.destroy();
    server.close();
  };
}

const tcp = {
  async server({ onMessage }) {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      const count = frameCounter(onMessage);
      socket.on('data', count);
    });
    const close = tracked(server);
    server.listen(0, HOST);
    await once(server, 'listening');
    return { port: server.address().port, info: {}, close };
  },
  async client() {
    return {
      async connect(port) {
        const socket = net.connect(port, HOST);
        socket.setNoDelay(true);
        socket.on('error', () => {});
        await once(socket, 'connect');
        return { pump: (p, stop) => pumpFramed(socket, p, stop), close: () => closeSocket(socket) };
      },
      async close() {},
    };
  },
};

/** A self-signed Ed25519 certificate (the openssl CLI; node:crypto cannot issue certificates). */
function ed25519Certificate(name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-new', '-x509', '-key', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TLS_OPTIONS = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphersuites: 'TLS_AES_256_GCM_SHA384' };

const tlsStack = {
  setup() {
    return { server: ed25519Certificate('server'), client: ed25519Certificate('client') };
  },
  async server({ onMessage }, setup) {
    const server = tls.createServer({
      ...TLS_OPTIONS, key: setup.server.key, cert: setup.server.cert,
      ca: [setup.client.cert], requestCert: true, rejectUnauthorized: true,
    }, (socket) => {
      socket.setNoDelay(true);
      socket.on('data', frameCounter(onMessage));
    });
    server.on('tlsClientError', () => {});
    const close = tracked(server);
    server.listen(0, HOST);
    await once(server, 'listening');
    return { port: server.address().port, info: {}, close };
  },
  async client(_info, setup) {
    // One context for every connection, as a real client keeps (parsing the key and certificates
    // per connection would charge node:tls for work that is not the handshake); no resumption.
    const secureContext = tls.createSecureContext({ ...TLS_OPTIONS, key: setup.client.key, cert: setup.client.cert, ca: [setup.server.cert] });
    return {
      async connect(port) {
        const socket = tls.connect({ ...TLS_OPTIONS, host: HOST, port, secureContext, checkServerIdentity: () => undefined });
        socket.setNoDelay(true);
        socket.on('error', () => {});
        await once(socket, 'secureConnect');
        return { pump: (p, stop) => pumpFramed(socket, p, stop), close: () => closeSocket(socket) };
      },
      async close() {},
    };
  },
};

function secretKeyPair(seed) {
  return SecretStream.keyPair(seed);
}

const secret = {
  setup() {
    return { server: randomBytes(32).toString('hex'), client: randomBytes(32).toString('hex') };
  },
  async server({ onMessage }, setup) {
    const keyPair = secretKeyPair(Buffer.from(setup.server, 'hex'));
    const expected = secretKeyPair(Buffer.from(setup.client, 'hex')).publicKey;
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      const s = new SecretStream(false, socket, { keyPair });
      s.on('error', () => {});
      s.on('open', () => { if (!s.remotePublicKey.equals(expected)) s.destroy(); });
      s.on('data', (m) => onMessage(m.length));
    });
    const close = tracked(server);
    server.listen(0, HOST);
    await once(server, 'listening');
    return { port: server.address().port, info: {}, close };
  },
  async client(_info, setup) {
    const keyPair = secretKeyPair(Buffer.from(setup.client, 'hex'));
    const expected = secretKeyPair(Buffer.from(setup.server, 'hex')).publicKey;
    return {
      async connect(port) {
        const socket = net.connect(port, HOST);
        socket.setNoDelay(true);
        socket.on('error', () => {});
        const s = new SecretStream(true, socket, { keyPair, remotePublicKey: expected });
        s.on('error', () => {});
        if (!(await s.opened)) throw new Error('secret-stream handshake failed');
        if (!s.remotePublicKey.equals(expected)) throw new Error('secret-stream: wrong remote key');
        return {
          async pump(payload, stop) {
            // streamx settles writes and 'drain' in microtasks: yield to the event loop now and
            // then, or this loop starves it (and the process answers nothing).
            for (let n = 1; !stop(); n++) {
              if (!s.write(payload)) await once(s, 'drain');
              if ((n & 255) === 0) await new Promise(setImmediate);
            }
          },
          close: () => new Promise((resolve) => {
            s.once('close', resolve);
            s.end();
            setTimeout(() => s.destroy(), 1000).unref();
          }),
        };
      },
      async close() {},
    };
  },
};

const UNLIMITED = { classes: { handshake: 'unlimited', heartbeat: 'unlimited', task: 'unlimited', discovery: 'unlimited', chunk: 'unlimited' } };
/** The listener's per-address limits do not apply to loopback: every client here is 127.0.0.1. */
const LOOPBACK_EXEMPT = { exempt: ['127.0.0.0/8'] };
const CLUSTER_SCRIPT = fileURLToPath(new URL('../../examples/cluster.mjs', import.meta.url));
/** Requests or acknowledged messages in flight in the delivery-API scenarios (as bench/peers-api.js had). */
const API_WINDOW = 256;

function serverPeerOptions(setup) {
  const client = Identity.fromSeed(Buffer.from(setup.client, 'hex'));
  return {
    entityId: 'server', trust: [['client', Buffer.from(client.publicKey).toString('hex')]], acceptUnknown: false,
    rateLimits: UNLIMITED, addressLimits: LOOPBACK_EXEMPT,
    listener: { maxHalfOpen: 100_000, idleTimeoutMs: 0 },
  };
}

/** CPU time (user + system, µs) of other processes, from /proc (Linux). */
function procCpuUs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // gone: its time is no longer counted
    }
  }
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

/**
 * The server as examples/cluster.mjs runs it: `workers` node:cluster processes sharing one port
 * and one identity. Its CPU (primary + workers) is read from /proc.
 */
async function clusterServer(setup, workers) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-'));
  const identityFile = path.join(dir, 'server.key');
  await Identity.fromSeed(Buffer.from(setup.server, 'hex')).save(identityFile);
  const child = spawn(process.execPath, [CLUSTER_SCRIPT, JSON.stringify({ identityFile, host: HOST, workers, peer: serverPeerOptions(setup) })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(createInterface({ input: child.stdout }), 'line');
  const { port, workers: pids } = JSON.parse(line);
  return {
    port, info: {},
    cpuUs: () => procCpuUs([child.pid, ...pids]),
    async close() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts `op` until stop(), `window` at a time, counting completions. */
async function windowed(op, window, stop, onDone) {
  const inflight = new Set();
  while (!stop()) {
    const p = op().then(onDone).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

/** The session's 'drain', or its close (so a pump never waits forever on a dead session). */
function drained(session) {
  return new Promise((resolve) => {
    const done = () => {
      session.off('drain', done);
      session.off('close', done);
      resolve();
    };
    session.on('drain', done);
    session.on('close', done);
  });
}

const peercomm = {
  setup() {
    return {
      server: randomBytes(32).toString('hex'),
      client: randomBytes(32).toString('hex'),
    };
  },
  async server({ onMessage }, setup, { cluster } = {}) {
    if (cluster) return clusterServer(setup, cluster);
    const identity = Identity.fromSeed(Buffer.from(setup.server, 'hex'));
    const peer = await Peer.create({ ...serverPeerOptions(setup), identity });
    // The batch event: every message of one socket read at once, as a high-volume server reads them.
    peer.on('messages', (batch) => {
      for (let i = 0; i < batch.length; i++) onMessage(batch[i].size);
    });
    peer.on('request', (req) => void req.reply(req.payload));
    const { port } = await peer.listen({ host: HOST, port: 0 });
    return { port, info: {}, close: () => peer.close() };
  },
  async client(_info, setup) {
    const identity = Identity.fromSeed(Buffer.from(setup.client, 'hex'));
    const server = Identity.fromSeed(Buffer.from(setup.server, 'hex'));
    const peer = await Peer.create({
      identity, entityId: 'client', trust: [['server', server.publicKey]], acceptUnknown: false,
      rateLimits: UNLIMITED,
    });
    return {
      async connect(port) {
        const session = await peer.connect({ host: HOST, port });
        return {
          /** write() until it returns false, then 'drain' (as node:net's write() is driven; send() is the promise API). */
          async pump(payload, stop) {
            const options = { type: 'task' };
            while (!stop()) {
              if (!session.write(payload, options)) await drained(session);
            }
          },
          /**
           * The delivery API (issue 12): `ack` = send(x, { ack: true }), `request` = request() →
           * reply, `window` in flight; onDone per completion.
           */
          api(mode, payload, window, stop, onDone) {
            const op = mode === 'ack'
              ? () => session.send(payload, { type: 'task', ack: true })
              : () => session.request(payload, { type: 'task' });
            return windowed(op, window, stop, onDone);
          },
          close: () => session.close(),
        };
      },
      close: () => peer.close(),
    };
  },
};

export { API_WINDOW };
export const STACKS = { tcp, tls: tlsStack, secret, peercomm };
export const STACK_NAMES = Object.keys(STACKS);
