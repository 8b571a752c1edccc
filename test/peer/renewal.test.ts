import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, type Message, type Session } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { NO_LIMITS } from '../helpers/limits.js';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

describe('session renewal (rekey before the TTL)', () => {
  it('renews with fresh handshakes while messages flow both ways: none lost, duplicated or reordered', async () => {
    const session = { ttlMs: 800, renewBeforeMs: 400 };
    const bob = await Peer.create({ entityId: 'bob', session, rateLimits: NO_LIMITS });
    const alice = await Peer.create({ entityId: 'alice', session, rateLimits: NO_LIMITS });
    peers.push(alice, bob);
    const addr = await bob.listen();
    const accepted = new Promise<Session>((r) => bob.once('session', r));
    const a = await alice.connect(addr);
    const b = await accepted;
    const ids = new Set([a.id]);
    a.on('renewed', () => ids.add(a.id));
    const atBob: number[] = [];
    const atAlice: number[] = [];
    bob.on('message', (m: Message) => atBob.push(Number(Buffer.from(m.payload).toString()) === m.seq ? m.seq : -1));
    alice.on('message', (m: Message) => atAlice.push(Number(Buffer.from(m.payload).toString()) === m.seq ? m.seq : -1));
    const until = Date.now() + 2000; // 2.5 TTLs: the session must renew to survive
    let sent = 0;
    while (Date.now() < until) {
      for (let i = 0; i < 20; i++, sent++) {
        void a.send(String(sent));
        void b.send(String(sent));
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await a.send('x');
    await new Promise((r) => setTimeout(r, 100));
    expect(a.state).toBe('READY');
    expect(b.state).toBe('READY');
    expect(a.renewals).toBeGreaterThanOrEqual(2);
    expect(b.renewals).toBe(a.renewals);
    expect(ids.size).toBe(a.renewals + 1);
    const expected = Array.from({ length: sent }, (_, i) => i);
    expect(atBob.slice(0, sent)).toEqual(expected);
    expect(atAlice).toEqual(expected);
  }, 20_000);

  it('without renewal the session expires at its TTL (SESSION_EXPIRED)', async () => {
    const bob = await Peer.create({ entityId: 'bob', session: { ttlMs: 300 } });
    peers.push(bob);
    const port = (await bob.listen()).port;
    const raw = await RawClient.connect(port); // a client that never renews
    const s = await raw.handshake();
    expect(await raw.nextErrorCode(s)).toBe('SESSION_EXPIRED');
  });

  it('a renewal must authenticate the same identity', async () => {
    // The renewal window covers the whole TTL here, so the renewal is judged on its identity.
    const bob = await Peer.create({ entityId: 'bob', session: { ttlMs: 60_000, renewBeforeMs: 60_000 } });
    peers.push(bob);
    const port = (await bob.listen()).port;
    const raw = await RawClient.connect(port);
    const session = await raw.handshake({ identity: Identity.generate(), entityId: 'raw' });
    // A second handshake on the same connection, by another key claiming the same entity id.
    const { Handshake } = await import('../../src/handshake/index.js');
    const { send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'raw' }, Date.now());
    raw.send(send[0]!);
    expect(await raw.nextErrorCode(session)).toBe('INVALID_SIGNATURE');
  });
});
