// A process of bench/relay.js: `receiver` (a Peer that listens and also reserves on the relay),
// `relay` (a RelayServer with limits out of the way), or `forward` (plain TCP forwarding, the
// reference for relay CPU). Driven over IPC; answers `cpu` with its user+system µs and the bytes
// it forwarded.
import net from 'node:net';
import { Peer, RelayServer, Identity } from '../dist/index.js';

const [role, arg] = process.argv.slice(2);
let forwarded = 0;
let relay = null;

if (role === 'receiver') {
  const peer = await Peer.create({ rateLimits: { classes: { task: 'unlimited', chunk: 'unlimited', handshake: 'unlimited' } }, reserve: { relays: [arg] } });
  const { port } = await peer.listen({ host: '127.0.0.1', port: 0 });
  await peer.relayReservations.ready(1);
  process.send({ ready: true, port, key: Buffer.from(peer.identity.publicKey).toString('hex') });
} else if (role === 'relay') {
  relay = new RelayServer(Identity.generate(), { maxCircuitBytes: 2 ** 45, maxBytesPerSecond: 2 ** 40, maxCircuitDurationMs: 2 ** 31 - 1 });
  const { port } = await relay.listen();
  process.send({ ready: true, port });
} else if (role === 'forward') {
  const server = net.createServer({ noDelay: true }, (client) => {
    const up = net.connect({ host: '127.0.0.1', port: Number(arg) });
    up.setNoDelay(true);
    for (const s of [client, up]) s.on('error', () => undefined);
    client.on('data', (d) => (forwarded += d.length));
    up.on('data', (d) => (forwarded += d.length));
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.send({ ready: true, port: server.address().port });
}

process.on('message', (m) => {
  if (m.cmd !== 'cpu') return;
  const c = process.cpuUsage();
  process.send({ cpu: c.user + c.system, bytes: relay ? relay.stats().bytesRelayed : forwarded });
});
