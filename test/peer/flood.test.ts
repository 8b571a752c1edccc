/**
 * A handshake flood at the listener, on 127.0.0.1, bounded in time: four source addresses in
 * 127.0.0.0/8 open 100 connections each (20× the per-address burst of 10 handshakes... and
 * far over the cookie threshold) and send valid handshake_inits they never complete. The
 * listener must do handshake crypto for at most a bounded few, keep its memory bounded, count
 * every drop, and keep serving an established session throughout. (Throughput under flood is
 * measured in bench/flood.js, not asserted here.)
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Identity, Peer, wire, type Message } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';

const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const PER_ADDRESS = 100;
const COOKIE_THRESHOLD = 16;
const MAX_HALF_OPEN = 200;

const peers: Peer[] = [];
const sockets: net.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(peers.map((p) => p.close()));
});

describe('handshake flood', () => {
  it('costs the listener a bounded amount of crypto and memory, and established sessions go on', async () => {
    const server = await Peer.create({
      entityId: 'server',
      listener: { cookieThreshold: COOKIE_THRESHOLD, maxHalfOpen: MAX_HALF_OPEN, maxConnectionsPerAddress: 64 },
    });
    const client = await Peer.create({ entityId: 'client' });
    server.trust.pin('client', client.identity.publicKey); // a known peer: its messages are not rate-limited
    peers.push(server, client);
    const { port } = await server.listen({ host: '0.0.0.0', port: 0 });
    const session = await client.connect({ host: '127.0.0.1', port });
    let delivered = 0;
    server.on('message', (m: Message) => {
      if (m.from === 'client') delivered++;
    });

    const identity = Identity.generate();
    const inits = Array.from({ length: ADDRESSES.length * PER_ADDRESS }, () => Handshake.initiate({ identity, entityId: 'flood' }, Date.now()).send[0]!);
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let acks = 0;
    let cookieReplies = 0;
    let peakHalfOpen = 0;
    const sampler = setInterval(() => (peakHalfOpen = Math.max(peakHalfOpen, server.stats().listener.halfOpen)), 5);
    const flood = ADDRESSES.flatMap((localAddress, a) => Array.from({ length: PER_ADDRESS }, (_, i) => new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => s.write(wire.encodeFrame(inits[a * PER_ADDRESS + i]!)));
      sockets.push(s);
      const d = new wire.Deframer();
      s.on('data', (chunk) => {
        for (const f of d.push(chunk)) {
          if (f[1] === wire.FrameType.HandshakeInitAck) acks++;
          if (f[1] === wire.FrameType.CookieReply) cookieReplies++;
        }
        resolve(); // the listener has answered this connection (ack, cookie or refusal)
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      // Only a backstop: every connection is answered or closed by the listener (its init
      // deadline is 3 s), however loaded the machine is.
      setTimeout(resolve, 20_000);
    })));
    // The established session keeps sending through the flood.
    let sent = 0;
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      for (let i = 0; i < 50; i++, sent++) void session.send(Buffer.alloc(256));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(flood);
    await session.send('last');
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(sampler);
    const stats = server.stats();

    expect(delivered).toBe(sent + 1);
    // Handshake crypto (a handshake_init_ack) only before the cookie threshold was reached.
    expect(acks).toBeLessThanOrEqual(COOKIE_THRESHOLD + 2);
    expect(cookieReplies + stats.listener.connectionsRefused + stats.listener.halfOpenRefused).toBeGreaterThan(0);
    expect(stats.listener.cookiesIssued).toBe(cookieReplies);
    expect(peakHalfOpen).toBeLessThanOrEqual(MAX_HALF_OPEN);
    // Every flood connection was accounted for: refused at connect (per-address or half-open
    // cap), refused by the per-address handshake rate, answered with a cookie, or served.
    const l = stats.listener;
    expect(l.connectionsRefused + l.halfOpenRefused + l.handshakesRateLimited + l.cookiesIssued + acks).toBeGreaterThanOrEqual(ADDRESSES.length * PER_ADDRESS);
    expect(l.handshakesRateLimited).toBeGreaterThan(0);
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);
});
