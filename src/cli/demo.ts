/**
 * `peercomm demo`: a local network of peers on 127.0.0.1 in one process. Runs handshakes,
 * exchanges messages of several sizes, and prints timings and a short throughput figure.
 */
import { performance } from 'node:perf_hooks';
import { engine } from '../crypto/index.js';
import { Peer, type Message, type Session } from '../peer/index.js';

const SIZES = [64, 1024, 16 * 1024, 60 * 1024];

function fmt(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

async function throughput(from: Session, to: Peer, size: number, seconds: number): Promise<{ msgs: number; mbps: number }> {
  const payload = Buffer.alloc(size, 0x61);
  let received = 0;
  const onMessage = (): void => void received++;
  to.on('message', onMessage);
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < seconds * 1000) {
    for (let i = 0; i < 256; i++, sent++) void from.send(payload);
    await from.send(payload);
    sent++;
  }
  while (received < sent) await new Promise((r) => setImmediate(r));
  const elapsed = (performance.now() - start) / 1000;
  to.off('message', onMessage);
  return { msgs: received / elapsed, mbps: (received * size) / elapsed / 1e6 };
}

export async function runDemo(options: { peers: number; seconds: number; log: (line: string) => void }): Promise<void> {
  const { log } = options;
  const n = Math.max(2, options.peers);
  log(`peercomm demo: ${n} peers on 127.0.0.1, AES-256-GCM engine: ${engine()}, Node ${process.version}`);
  const peers = await Promise.all(Array.from({ length: n }, (_, i) => Peer.create({ entityId: `agent-${i + 1}` })));
  // The agents know each other's keys: pinned peers are trusted, so the spec's default rate
  // limits (meant for strangers: 30 tasks a minute) do not apply between them.
  for (const p of peers) for (const q of peers) if (p !== q) p.trust.pin(q.entityId, q.identity.publicKey);
  try {
    const addresses = await Promise.all(peers.map((p) => p.listen({ host: '127.0.0.1', port: 0 })));
    peers.forEach((p, i) => log(`  ${p.entityId} listening on ${addresses[i]!.host}:${addresses[i]!.port}, fingerprint ${p.identity.fingerprint.slice(0, 16)}…`));

    log('handshakes (each peer connects to the next, ring):');
    const sessions: Session[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const s = await peers[i]!.connect(addresses[(i + 1) % n]!);
      sessions.push(s);
      log(`  ${peers[i]!.entityId} → ${s.remote!.entityId}: READY in ${fmt(performance.now() - t, 2)} ms (session ${s.id}, ${s.state})`);
    }

    log('messages of several sizes (agent-1 → agent-2, round trip through the echo on agent-2):');
    peers[1]!.on('message', (m: Message) => {
      if (m.version === '1.1' && m.type === 'task') void m.session.send(m.payload, { type: 'task_result' });
    });
    for (const size of SIZES) {
      const reply = new Promise<Message>((r) => peers[0]!.once('message', r));
      const t = performance.now();
      const seq = await sessions[0]!.send(Buffer.alloc(size, 0x42), { type: 'task' });
      const m = await reply;
      log(`  ${fmt(size, 0).padStart(6)} B: seq ${seq}, echoed ${m.payload.length} B as ${String(m.type)} in ${fmt(performance.now() - t, 2)} ms`);
    }
    peers[1]!.removeAllListeners('message');

    log(`throughput, agent-1 → agent-2 over TCP (${options.seconds} s each):`);
    for (const size of [64, 1024, 60 * 1024]) {
      const r = await throughput(sessions[0]!, peers[1]!, size, options.seconds);
      log(`  ${fmt(size, 0).padStart(6)} B messages: ${fmt(r.msgs, 0)} msg/s, ${fmt(r.mbps)} MB/s`);
    }
    const stats = peers.map((p) => p.stats());
    // Both ends of a session count its handshake.
    const completed = stats.reduce((a, s) => a + s.handshakesCompleted, 0) / 2;
    log(`stats: ${completed} handshakes completed, ${stats.reduce((a, s) => a + s.handshakesFailed, 0)} failed, ${fmt(stats.reduce((a, s) => a + s.messagesReceived, 0), 0)} messages received`);
  } finally {
    await Promise.all(peers.map((p) => p.close()));
  }
  log('all peers closed.');
}
