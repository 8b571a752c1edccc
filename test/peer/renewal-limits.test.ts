/**
 * Renewal under attack and under load, over real TCP: a renewal only near the TTL, charged to
 * the handshake class, re-checked against the trust store; and a renewal while this side
 * streams a message switches receiving at once (sending follows when the stream ends).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, TrustStore, wire, type Message, type Session } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { NO_LIMITS } from '../helpers/limits.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function server(opts: Parameters<typeof Peer.create>[0] = {}): Promise<{ peer: Peer; port: number; errors: string[] }> {
  const peer = await Peer.create({ entityId: 'server', ...opts });
  cleanup.push(() => peer.close());
  const errors: string[] = [];
  peer.on('sessionError', (e: { code: string }) => errors.push(e.code));
  return { peer, port: (await peer.listen({ host: '127.0.0.1' })).port, errors };
}

/** Reads frames until the server closes; says whether any was a handshake_init_ack (a renewal answered). */
async function answeredAndCode(raw: RawClient, session: Awaited<ReturnType<RawClient['handshake']>>): Promise<{ acks: number; code: string }> {
  let acks = 0;
  for (;;) {
    const f = await raw.next();
    if (f === null) return { acks, code: 'closed' };
    if (f[1] === wire.FrameType.HandshakeInitAck) acks++;
    if (f[1] === wire.FrameType.Error) {
      const [e] = session.receive(f, Date.now());
      if (e?.kind === 'error') return { acks, code: e.error.code };
    }
  }
}

describe('renewal limits', () => {
  it('a renewal long before the TTL is refused (INVALID_STATE) before any handshake work', async () => {
    const { port, errors } = await server(); // TTL 3600 s: the renewal window is its last 120 s
    const raw = await RawClient.connect(port);
    cleanup.push(() => raw.close());
    const identity = Identity.generate();
    const session = await raw.handshake({ identity });
    const { Handshake } = await import('../../src/handshake/index.js');
    raw.send(Handshake.initiate({ identity, entityId: 'raw' }, Date.now()).send[0]!);
    expect(await answeredAndCode(raw, session)).toEqual({ acks: 0, code: 'INVALID_STATE' });
    expect(errors).toEqual(['INVALID_STATE']);
  });

  it('renewals are charged to the handshake class of the remote identity (RATE_LIMITED past its burst)', async () => {
    // Renewal allowed at any time here (lead = TTL), handshake burst 2.
    const { port, errors } = await server({
      session: { ttlMs: 60_000, renewBeforeMs: 60_000 },
      rateLimits: { classes: { handshake: { perMinute: 1, burst: 2 } } },
    });
    const raw = await RawClient.connect(port);
    cleanup.push(() => raw.close());
    const identity = Identity.generate();
    let session = await raw.handshake({ identity });
    for (let i = 0; i < 2; i++) session = await raw.handshake({ identity }); // two renewals: the burst
    const { Handshake } = await import('../../src/handshake/index.js');
    raw.send(Handshake.initiate({ identity, entityId: 'raw' }, Date.now()).send[0]!);
    expect(await answeredAndCode(raw, session)).toEqual({ acks: 0, code: 'RATE_LIMITED' });
    expect(errors).toEqual(['RATE_LIMITED']);
  });

  it('a key unpinned since the session began cannot renew it (trust store re-checked)', async () => {
    const session = { ttlMs: 1500, renewBeforeMs: 1000 };
    const trust = new TrustStore([], false);
    const { peer: bob, port, errors } = await server({ trust, session });
    const alice = await Peer.create({ entityId: 'alice', session });
    cleanup.push(() => alice.close());
    trust.pin('alice', alice.identity.publicKey);
    const a = await alice.connect(`127.0.0.1:${port}`);
    expect(bob.stats().sessions).toBe(1);
    trust.unpin('alice');
    const closed = new Promise<unknown>((r) => a.once('close', r));
    expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 5000))])).toMatchObject({ code: 'UNKNOWN_SENDER' });
    expect(a.renewals).toBe(0);
    expect(errors).toEqual(['UNKNOWN_SENDER']);
  });

  it('a renewal while this side streams a message: receiving switches at once, sending after the stream', async () => {
    const session = { ttlMs: 4000, renewBeforeMs: 1500 }; // renews 2.5 s in
    const { peer: bob, port } = await server({ session, rateLimits: NO_LIMITS });
    const alice = await Peer.create({ entityId: 'alice', session, rateLimits: NO_LIMITS });
    cleanup.push(() => alice.close());
    const accepted = new Promise<Session>((r) => bob.once('session', r));
    const a = await alice.connect(`127.0.0.1:${port}`);
    const b = await accepted;
    const atAlice: string[] = [];
    alice.on('message', (m: Message) => atAlice.push(Buffer.from(m.payload).toString()));
    // The streamed message, reassembled at Bob (below the stream threshold: delivered whole).
    const streamed = new Promise<Buffer>((resolve) => bob.on('message', (m: Message) => m.size > 1000 && resolve(Buffer.from(m.payload))));
    // Alice streams a piece of 32 KiB every 50 ms and holds the last one until 300 ms after
    // the renewal completed, while Bob keeps sending to her (after the renewal, under the new keys).
    const PIECE = 32 * 1024;
    const PIECES = 20;
    let renewed = false;
    const renewal = new Promise<void>((r) => a.once('renewed', () => {
      renewed = true;
      r();
    }));
    async function* slow(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < PIECES; i++) {
        await new Promise((r) => setTimeout(r, 50));
        if (i === PIECES - 1) await renewal.then(() => new Promise((r) => setTimeout(r, 300))); // Bob's records under the new keys arrive meanwhile
        yield Buffer.alloc(PIECE, i);
      }
    }
    let bobSent = 0;
    const ticker = setInterval(() => void b.send(`b${bobSent++}`).catch(() => undefined), 25);
    await a.sendStream(slow(), { length: PIECE * PIECES, type: 'task' });
    expect(renewed).toBe(true); // the renewal completed while the stream was in progress
    clearInterval(ticker);
    const got = new Promise<void>((r) => bob.on('message', (m: Message) => Buffer.from(m.payload).toString() === 'after the stream' && r()));
    await a.send('after the stream');
    const whole = await streamed;
    expect(whole.length).toBe(PIECE * PIECES);
    for (let i = 0; i < PIECES; i++) expect(whole[i * PIECE]).toBe(i);
    await got;
    await b.send('last');
    while (!atAlice.includes('last')) await new Promise((r) => setTimeout(r, 10));
    expect(a.state).toBe('READY');
    expect(b.state).toBe('READY');
    expect(a.renewals).toBeGreaterThanOrEqual(1);
    expect(atAlice.slice(0, bobSent)).toEqual(Array.from({ length: bobSent }, (_, i) => `b${i}`));
  }, 20_000);
});
