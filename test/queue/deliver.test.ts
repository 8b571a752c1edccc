/** deliver() end to end over real TCP on 127.0.0.1, SQLite stores in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Identity, Peer, isPeerError, type QueuedMessage } from '../../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-deliver-'));
const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function pair(queue: object = {}) {
  const bobId = Identity.generate();
  const bob = await Peer.create({ identity: bobId, entityId: 'bob', queue: { path: path.join(dir, `bob-${peers.length}.db`) } });
  const addr = await bob.listen({ host: '127.0.0.1', port: 0 });
  const alice = await Peer.create({
    entityId: 'alice', trust: [['bob', bobId.publicKey]],
    queue: { path: path.join(dir, `alice-${peers.length}.db`), routes: { bob: `127.0.0.1:${addr.port}` }, ...queue },
  });
  bob.trust.pin('alice', alice.identity.publicKey);
  peers.push(alice, bob);
  return { alice, bob };
}

function collect(peer: Peer, n: number): Promise<QueuedMessage[]> {
  const got: QueuedMessage[] = [];
  return new Promise((resolve) => peer.queue.on('message', (m: QueuedMessage) => {
    got.push(m);
    if (got.length === n) resolve(got);
  }));
}

describe('peer.deliver', () => {
  it('delivers every message once, in order, and empties the outbox on the acks', async () => {
    const { alice, bob } = await pair();
    const got = collect(bob, 200);
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => alice.deliver('bob', `m${i}`, { type: 'task' })));
    expect(ids.every((id) => id.length === 16)).toBe(true);
    const msgs = await got;
    expect(msgs.map((m) => Buffer.from(m.payload).toString())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(msgs.map((m) => Buffer.from(m.id).toString('hex'))).toEqual(ids.map((id) => Buffer.from(id).toString('hex')));
    expect(msgs.every((m) => m.from === 'alice' && m.type === 'task' && !m.redelivered)).toBe(true);
    await expect.poll(async () => (await alice.queue.stats()).pending, { timeout: 20_000 }).toBe(0);
    const s = await alice.queue.stats();
    expect(s.delivered).toBe(200);
    expect((await bob.queue.stats()).received).toBe(200);
  });

  it('rejects with QUEUE_FULL over the recipient quota, storing nothing', async () => {
    const { alice } = await pair({ quota: { messages: 3 }, routes: {} });
    // No route and no DHT: nothing is delivered, so the quota fills.
    await Promise.all([1, 2, 3].map((i) => alice.deliver('nobody', `x${i}`)));
    const err = await alice.deliver('nobody', 'x4').catch((e: unknown) => e);
    expect(isPeerError(err, 'QUEUE_FULL')).toBe(true);
    expect((err as { details: { limit: string } }).details.limit).toBe('messages');
    expect((await alice.queue.stats()).pending).toBe(3);
    const big = await alice.deliver('other', Buffer.alloc(2 * 1024 * 1024)).catch((e: unknown) => e);
    expect(isPeerError(big, 'INVALID_ARGUMENT')).toBe(true);
    const ttl = await alice.deliver('other', 'x', { ttl: 31 * 24 * 3_600_000 }).catch((e: unknown) => e);
    expect(isPeerError(ttl, 'INVALID_ARGUMENT')).toBe(true);
  });
});
