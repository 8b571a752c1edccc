/**
 * The receiving side of the queue over real TCP on 127.0.0.1 (SQLite store in a temp dir): copies
 * of one message that arrive together (a sender's restarted pass overtaking its first one, two
 * sessions of one sender) are handed to the application once, with `redelivered: false`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Identity, Peer, type QueuedMessage } from '../../src/index.js';
import { encodeEnvelope } from '../../src/queue/envelope.js';
import { SqliteStore } from '../../src/queue/sqlite.js';
import type { QueueStore } from '../../src/queue/store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-inbound-'));
const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('queue receiver', () => {
  it('hands a message that arrives several times in one tick to the application once', async () => {
    const bobId = Identity.generate();
    const bob = await Peer.create({ identity: bobId, entityId: 'bob', queue: { path: path.join(dir, 'bob.db') } });
    const addr = await bob.listen({ host: '127.0.0.1', port: 0 });
    const alice = await Peer.create({ entityId: 'alice', trust: [['bob', bobId.publicKey]] });
    bob.trust.pin('alice', alice.identity.publicKey);
    peers.push(alice, bob);
    const got: QueuedMessage[] = [];
    bob.queue.on('message', (m: QueuedMessage) => got.push(m));

    const session = await alice.connect(`127.0.0.1:${addr.port}`);
    const env = encodeEnvelope({ id: randomBytes(16), epoch: randomBytes(8), pos: 1, prev: 0, ttlSeconds: 60, type: 0x80, payload: Buffer.from('once') });
    // Written in one tick: they reach bob in one read, so one accept batch sees them all.
    await Promise.all(Array.from({ length: 20 }, () => session.send(env, { type: 'queued' })));
    await expect.poll(async () => {
      const s = await bob.queue.stats();
      return s.received + s.duplicates;
    }, { timeout: 20_000 }).toBe(20);
    expect(got.map((m) => [Buffer.from(m.payload).toString(), m.redelivered])).toEqual([['once', false]]);
    const s = await bob.queue.stats();
    expect([s.received, s.duplicates]).toEqual([1, 19]);
  });

  it('keeps FIFO when an accept was written but failed to answer (a store killed mid-call): later messages of that session do not overtake it', async () => {
    // A real SQLite store; its accept() fails once after writing, as Redis killed between
    // executing a script and answering it does (crash test, CRASH_SEED=626888898).
    const real = SqliteStore.open({ path: path.join(dir, 'bob-faulty.db') });
    let failNext = false;
    const store = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop !== 'accept') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<QueueStore['accept']>) => {
          const r = await target.accept(...args);
          if (failNext) {
            failNext = false;
            await new Promise((r) => setTimeout(r, 200)); // the sender's next messages queue up behind it
            throw new Error('store connection lost before the answer');
          }
          return r;
        };
      },
    }) as QueueStore;
    const bobId = Identity.generate();
    const bob = await Peer.create({ identity: bobId, entityId: 'bob', queue: { store } });
    const addr = await bob.listen({ host: '127.0.0.1', port: 0 });
    const alice = await Peer.create({
      entityId: 'alice', trust: [['bob', bobId.publicKey]],
      queue: { path: path.join(dir, 'alice-faulty.db'), routes: { bob: `127.0.0.1:${addr.port}` } },
    });
    bob.trust.pin('alice', alice.identity.publicKey);
    peers.push(alice, bob);
    const got: string[] = [];
    bob.queue.on('message', (m: QueuedMessage) => {
      got.push(Buffer.from(m.payload).toString());
      if (got.length === 50) failNext = true; // a later batch's accept fails after writing
    });
    const n = 2000;
    await Promise.all(Array.from({ length: n }, (_, i) => alice.deliver('bob', `m${i}`, { type: 'task' })));
    await expect.poll(async () => (await alice.queue.stats()).pending, { timeout: 60_000 }).toBe(0);
    expect(failNext).toBe(false); // the failure happened
    const order = got.map((p) => Number(p.slice(1)));
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
  }, 90_000);
});
