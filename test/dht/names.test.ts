/**
 * Issue 11, names bound to keys, over UDP on 127.x.y.z: an attacker that claims someone else's
 * name (storing first, or answering lookups itself with forged or future-dated records) never
 * gets `connect(name)` to hand it a session, never locks the owner out, and never displaces the
 * owner's record in `discover()`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { DhtNode } from '../../src/dht/node.js';
import { signRecord } from '../../src/dht/record.js';
import { Peer } from '../../src/index.js';
import { Rogue } from './rogue.js';

const closers: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(closers.map((c) => c.close()));
});

/** A Peer on the DHT with its own loopback address (per-address limits are per prefix). */
async function peer(host: string, boot: string[], over: Parameters<typeof Peer.create>[0] = {}): Promise<Peer> {
  const p = await Peer.create({ ...over, bootstrap: boot, dht: { host, ...over.dht } });
  closers.push(p);
  await p.listen({ host, port: 0 });
  return p;
}

describe('names bound to keys', () => {
  it('connect(name) reaches the key bound to the name; an attacker who stored first locks nobody out', async () => {
    const seed = await Peer.create({ entityId: 'seed', dht: { host: '127.0.11.1' } });
    closers.push(seed);
    const boot = [seed.dht!.address];
    const owner = Identity.generate();
    const self = `agent-${owner.fingerprint.slice(0, 16)}`;
    // The attacker claims the owner's name first, with its own key, from its own address: every
    // node the owner can store on has seen the attacker's key first.
    const attacker = await peer('127.0.12.1', boot, { entityId: self });
    const real = await peer('127.0.14.1', boot, { identity: owner });
    expect(real.entityId).toBe(self);
    expect(real.stats().dhtPublishFailures).toBe(0);
    const attacker2 = await peer('127.0.13.1', boot, { entityId: 'alice' });
    const alice = Identity.generate();
    const realAlice = await peer('127.0.15.1', boot, { identity: alice, entityId: 'alice' });
    expect(realAlice.stats().dhtPublishFailures).toBe(0);

    const client = await peer('127.0.16.1', boot, { trust: [['alice', alice.publicKey]] });
    const s1 = await client.connect(self);
    expect(s1.fingerprint).toBe(owner.fingerprint);
    const s2 = await client.connect('alice');
    expect(s2.fingerprint).toBe(alice.fingerprint);
    const rec = await client.lookup(self);
    expect(rec.binding).toBe('self-certifying');
    expect((await client.lookup('alice')).binding).toBe('pinned');

    // Nobody vouches for 'alice' here: two keys claim it, and that is what the caller is told.
    const stranger = await peer('127.0.17.1', boot);
    await expect(stranger.lookup('alice')).rejects.toMatchObject({ code: 'DHT_ERROR', details: { reason: 'conflict', keys: 2 } });
    await expect(stranger.connect('alice')).rejects.toMatchObject({ code: 'DHT_ERROR' });
    // A name only one key claims resolves for a caller who opted in to first-seen pinning, and stays pinned.
    const tofu = await peer('127.0.18.1', boot, { dht: { pinFirstSeen: true } });
    await expect(stranger.lookup('seed')).rejects.toMatchObject({ details: { reason: 'unbound' } });
    const first = await tofu.lookup('seed');
    expect(first.binding).toBe('first-seen');
    expect(Buffer.from(tofu.trust.pinned('seed')!).equals(seed.identity.publicKey)).toBe(true);
    expect(attacker.entityId).toBe(self);
    expect(attacker2.entityId).toBe('alice');
  }, 60_000);

  it('connect(name) through a node that answers with a forged record refuses instead of reaching the forger', async () => {
    const owner = Identity.generate();
    const name = `agent-${owner.fingerprint.slice(0, 16)}`;
    // The forger listens for sessions under the owner's name, with its own key.
    const forger = await Peer.create({ entityId: name });
    closers.push(forger);
    const at = await forger.listen({ host: '127.0.25.1', port: 0 });
    const forged = signRecord({ entityId: name, addresses: [`127.0.25.1:${at.port}`], capabilities: [], lastSeen: Date.now(), ttl: 600 }, forger.identity);
    const rogue = await Rogue.start('127.0.26.1', { values: () => [forged.bytes] });
    closers.push(rogue);
    // The rogue is all the client knows.
    const client = await Peer.create({ bootstrap: [rogue.address], dht: { host: '127.0.27.1' } });
    closers.push(client);
    await expect(client.connect(name)).rejects.toMatchObject({ code: 'DHT_ERROR', details: { reason: 'unbound' } });
    expect(forger.stats().handshakesCompleted).toBe(0);
  }, 60_000);

  it('a rogue responder cannot displace a record with a forged or future-dated one, and the lookup reports the conflict', async () => {
    const seed = new DhtNode();
    await seed.start({ host: '127.0.21.1' });
    closers.push(seed);
    const owner = Identity.generate();
    const name = `agent-${owner.fingerprint.slice(0, 16)}`;
    const evil = Identity.generate();
    const now = Date.now();
    const forged = signRecord({ entityId: name, addresses: ['127.0.22.9:1'], capabilities: ['summarize'], lastSeen: now + 86_400_000, ttl: 600 }, evil);
    const evilName = `agent-${evil.fingerprint.slice(0, 16)}`;
    const future = signRecord({ entityId: evilName, addresses: ['127.0.22.9:1'], capabilities: ['summarize'], lastSeen: Date.UTC(2200, 0, 1), ttl: 600 }, evil);
    const rogue = await Rogue.start('127.0.22.1', { values: () => [forged.bytes, future.bytes] });
    closers.push(rogue);

    const ownerNode = new DhtNode({ identity: owner });
    await ownerNode.start({ host: '127.0.23.1', bootstrap: [seed.address] });
    closers.push(ownerNode);
    await ownerNode.publish({ entityId: name, addresses: ['127.0.23.1:7000'], capabilities: ['summarize'] });

    const client = new DhtNode();
    // The rogue is the first node the client knows.
    await client.start({ host: '127.0.24.1', bootstrap: [rogue.address, seed.address] });
    closers.push(client);
    const found = await client.discover('summarize');
    const mine = found.filter((r) => r.entityId === name);
    expect(mine).toHaveLength(1);
    expect(Buffer.from(mine[0]!.publicKey).equals(owner.publicKey)).toBe(true);
    expect(mine[0]!.binding).toBe('self-certifying');
    expect(found.some((r) => r.entityId === evilName)).toBe(false);
    expect(client.stats().badRecords).toBeGreaterThan(0);

    const looked = await client.lookup(name);
    expect(Buffer.from(looked.publicKey).equals(owner.publicKey)).toBe(true);
    expect(looked.addresses).toEqual(['127.0.23.1:7000']);
    expect(rogue.received).toBeGreaterThan(0);
  }, 60_000);
});
