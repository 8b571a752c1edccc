/** Peers on a DHT (real UDP on 127.0.0.1): publish, lookup, discover by capability, connect by entity id. */
import { afterAll, describe, expect, it } from 'vitest';
import { Peer } from '../../src/index.js';

const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

describe('Peer and the DHT', () => {
  it('finds agents nobody told it about, by capability, and connects to them by entity id', async () => {
    // Each peer on its own loopback address: DHT limits count per address prefix.
    const seed = await Peer.create({ entityId: 'seed', dht: { host: '127.0.31.1' } });
    peers.push(seed);
    const boot = [seed.dht!.address];
    const summarizer = await Peer.create({ entityId: 'summarizer', bootstrap: boot, dht: { host: '127.0.32.1' }, capabilities: ['summarize', 'translate'] });
    const other = await Peer.create({ bootstrap: boot, dht: { host: '127.0.33.1' }, capabilities: ['translate'] });
    peers.push(summarizer, other);
    await summarizer.listen({ host: '127.0.0.1', port: 0 });
    await other.listen({ host: '127.0.0.1', port: 0 });
    // 'summarizer' is a human name: this client pins it on first sight (opt-in); 'other' is self-certifying.
    const client = await Peer.create({ entityId: 'client', bootstrap: boot, dht: { host: '127.0.34.1', pinFirstSeen: true } });
    peers.push(client);

    const found = await client.discover('summarize');
    expect(found.map((r) => [r.entityId, r.binding])).toEqual([['summarizer', 'none']]);
    expect((await client.discover('translate')).map((r) => r.entityId).sort()).toEqual([other.entityId, 'summarizer'].sort());
    expect((await client.discover('translate')).find((r) => r.entityId === other.entityId)!.binding).toBe('self-certifying');
    const record = await client.lookup('summarizer');
    expect(record.binding).toBe('first-seen');
    expect(record.addresses).toEqual([`127.0.0.1:${summarizer.address!.port}`]);
    expect(Buffer.from(record.publicKey).equals(summarizer.identity.publicKey)).toBe(true);

    const session = await client.connect('summarizer');
    expect(session.remote!.entityId).toBe('summarizer');
    expect(session.fingerprint).toBe(summarizer.identity.fingerprint);
    const session2 = await client.connect(other.entityId);
    expect(session2.fingerprint).toBe(other.identity.fingerprint);
    await expect(client.lookup('nobody')).rejects.toMatchObject({ code: 'DHT_ERROR' });
    await expect((await Peer.create({ entityId: 'lonely' })).lookup('x')).rejects.toMatchObject({ code: 'INVALID_STATE' });
  }, 30_000);
});
