import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, PeerError, memoryDuplexPair, type Message } from '../../src/index.js';
import { NO_LIMITS } from '../helpers/limits.js';

const peers: Peer[] = [];
async function peer(opts: Parameters<typeof Peer.create>[0] = {}): Promise<Peer> {
  const p = await Peer.create({ rateLimits: NO_LIMITS, ...opts });
  peers.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

function nextMessage(p: Peer): Promise<Message> {
  return new Promise((resolve) => p.once('message', resolve));
}

describe('Peer over TCP', () => {
  it('connects, authenticates both ends and exchanges messages both ways', async () => {
    const alice = await peer({ entityId: 'alice' });
    const bob = await peer({ entityId: 'bob' });
    const addr = await bob.listen({ port: 0, host: '127.0.0.1' });
    const accepted = new Promise<import('../../src/index.js').Session>((r) => bob.once('session', r));
    const s = await alice.connect(`127.0.0.1:${addr.port}`);
    expect(s.state).toBe('READY');
    expect(s.phase).toBe('ACTIVE');
    expect(s.remote!.entityId).toBe('bob');
    expect(s.fingerprint).toBe(bob.identity.fingerprint);
    const got = nextMessage(bob);
    expect(await s.send('hello bob', { type: 'task' })).toBe(0);
    const m = await got;
    expect([m.from, m.type, Buffer.from(m.payload).toString(), m.seq]).toEqual(['alice', 'task', 'hello bob', 0]);
    const back = nextMessage(alice);
    await (await accepted).send(new Uint8Array([1, 2, 3]), { type: 0x90 });
    expect(await back).toMatchObject({ from: 'bob', type: 0x90, seq: 0 });
  });

  it('delivers through the async iterator in order', async () => {
    const bob = await peer({ entityId: 'bob' });
    const alice = await peer({ entityId: 'alice' });
    const addr = await bob.listen();
    const accepted = new Promise<import('../../src/index.js').Session>((r) => bob.once('session', r));
    const s = await alice.connect(addr);
    const incoming = await accepted;
    const it = incoming[Symbol.asyncIterator]();
    for (let i = 0; i < 500; i++) await s.send(`m${i}`);
    for (let i = 0; i < 500; i++) {
      const { value } = await it.next();
      expect([value.seq, Buffer.from(value.payload).toString()]).toEqual([i, `m${i}`]);
    }
  });

  it('refuses a pinned entity presenting another key, and unknown entities when so configured', async () => {
    const bob = await peer({ entityId: 'bob' });
    const addr = await bob.listen();
    const alice = await peer({ entityId: 'alice', trust: [['bob', Identity.generate().publicKey]] });
    await expect(alice.connect(addr)).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
    const carol = await peer({ entityId: 'carol', acceptUnknown: false });
    await expect(carol.connect(addr)).rejects.toMatchObject({ code: 'UNKNOWN_SENDER' });
    const dave = await peer({ entityId: 'dave', trust: [['bob', bob.identity.publicKey]], acceptUnknown: false });
    expect((await dave.connect(addr)).remote!.entityId).toBe('bob');
  });

  it('runs over the in-memory transport too', async () => {
    const alice = await peer({ entityId: 'alice' });
    const bob = await peer({ entityId: 'bob' });
    const [x, y] = memoryDuplexPair();
    const [sa, sb] = await Promise.all([alice.connectStream(x, 'initiator'), bob.connectStream(y, 'responder')]);
    const got = nextMessage(bob);
    await sa.send('over memory');
    expect(Buffer.from((await got).payload).toString()).toBe('over memory');
    expect(sb.remote!.entityId).toBe('alice');
  });

  it('close() drains queued messages before the close record', async () => {
    const alice = await peer({ entityId: 'alice' });
    const bob = await peer({ entityId: 'bob' });
    const addr = await bob.listen();
    const received: number[] = [];
    bob.on('message', (m: Message) => received.push(m.seq));
    const closed = new Promise<void>((r) => bob.once('session', (s) => s.once('close', () => r())));
    const s = await alice.connect(addr);
    for (let i = 0; i < 100; i++) void s.send(`x${i}`);
    await s.close();
    await closed;
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await expect(s.send('late')).rejects.toBeInstanceOf(PeerError);
  });
});
