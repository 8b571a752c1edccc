#!/usr/bin/env node
// One agent on every core: node:cluster workers share one listening TCP port and one identity;
// the primary alone holds the DHT presence, advertising the shared port. docs/CLUSTER.md.
//
//   node examples/cluster.mjs '{"identityFile":"agent.key","port":7400,"workers":2}'
//
// Config (one JSON argument): identityFile (written by Identity.save, mode 600; required),
// host (default 127.0.0.1), port (default 0: the primary picks one and every worker shares it),
// workers (default os.availableParallelism()), bootstrap (["host:port", …] of DHT nodes: the
// primary joins and publishes the workers' address), dhtHost, advertise (the address to
// publish, default host:port), peer (more Peer options for the workers, e.g. rateLimits).
// Each worker answers a request with {"worker": its cluster id, "pid": …}, so a client can see
// which process served its session. Once every worker listens, the primary prints one JSON line
// {"port", "workers": [pids], "entityId", "fingerprint", "dht"} on stdout; SIGTERM stops it all.
import cluster from 'node:cluster';
import os from 'node:os';
import { Identity, Peer } from '../dist/index.js';

const config = JSON.parse(process.argv[2] ?? process.env.PEERCOMM_CLUSTER ?? '{}');
const host = config.host ?? '127.0.0.1';

if (cluster.isPrimary) await primary();
else await worker();

async function primary() {
  const identity = await Identity.load(config.identityFile);
  const count = config.workers ?? os.availableParallelism();
  // The primary holds the listening socket and hands connections to the workers round-robin;
  // with port 0 it picks one free port and every worker gets that same port.
  cluster.setupPrimary({ args: [JSON.stringify(config)] });
  const listening = [];
  for (let i = 0; i < count; i++) {
    const w = cluster.fork();
    listening.push(new Promise((resolve, reject) => {
      w.once('listening', (address) => resolve(address.port));
      w.once('exit', (code) => reject(new Error(`worker ${w.id} exited (${code}) before listening`)));
    }));
  }
  const [port] = await Promise.all(listening);
  // One DHT presence for the whole cluster: the workers run none.
  let dht = null;
  let peer = null;
  if (config.bootstrap) {
    peer = await Peer.create({
      identity, entityId: config.peer?.entityId, bootstrap: config.bootstrap,
      dht: { host: config.dhtHost ?? host, advertise: [config.advertise ?? `${host}:${port}`] },
    });
    dht = peer.dht.address;
  }
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    await peer?.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  cluster.on('exit', (w, code, signal) => {
    if (!stopping) console.error(`worker ${w.id} exited (${code ?? signal})`);
  });
  const workers = Object.values(cluster.workers).map((w) => w.process.pid);
  console.log(JSON.stringify({ port, workers, entityId: peer?.entityId ?? null, fingerprint: identity.fingerprint, dht }));
}

async function worker() {
  const identity = await Identity.load(config.identityFile);
  const peer = await Peer.create({ ...config.peer, identity });
  peer.on('request', (req) => void req.reply(JSON.stringify({ worker: cluster.worker.id, pid: process.pid })));
  await peer.listen({ host, port: config.port ?? 0 });
  process.once('SIGTERM', async () => {
    await peer.close();
    process.exit(0);
  });
}

