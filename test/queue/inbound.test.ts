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
});
