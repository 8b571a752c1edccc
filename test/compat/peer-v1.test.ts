/** v1.0 through the Peer: off unless allowV1; when on, v1.0 messages arrive on peer.on('message'). */
import { afterAll, describe, expect, it } from 'vitest';
import { Peer } from '../../src/index.js';

const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

describe('Peer and v1.0', () => {
  it('refuses v1.0 unless allowV1 is set (never silently)', async () => {
    const p = await Peer.create({ entityId: 'strict' });
    peers.push(p);
    await expect(p.listenV1()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(p.sendV1('x', 'status', {}, 'http://127.0.0.1:1')).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('exchanges v1.0 messages between two peers that allow it, marked version 1.0 and unencrypted', async () => {
    const a = await Peer.create({ entityId: 'a', allowV1: true, v1: { log: () => undefined } });
    const b = await Peer.create({ entityId: 'b', allowV1: true, v1: { log: () => undefined } });
    peers.push(a, b);
    const urlA = `http://127.0.0.1:${(await a.listenV1()).port}`;
    const urlB = `http://127.0.0.1:${(await b.listenV1()).port}`;
    a.trust.pin('b', b.identity.publicKey);
    b.trust.pin('a', a.identity.publicKey);
    const got = new Promise<Record<string, unknown>>((r) => a.once('message', r));
    // a must know where to answer b (a v1.0 reply is a new POST to the sender's endpoint).
    a.addV1Peer('b', urlB);
    await b.sendV1('a', 'status', { load: 0.5, note: 'héllo' }, urlA);
    const m = await got;
    expect(m).toMatchObject({ version: '1.0', encrypted: false, from: 'b', type: 'status', payload: { load: 0.5, note: 'héllo' } });
    expect(a.stats().messagesReceived).toBe(1);
  });

  it('connectAny: v1.1 when the peer speaks it, v1.0 only as a configured fallback', async () => {
    const modern = await Peer.create({ entityId: 'modern', allowV1: true, v1: { log: () => undefined } });
    const legacy = await Peer.create({ entityId: 'legacy', allowV1: true, v1: { log: () => undefined } });
    const me = await Peer.create({ entityId: 'me', allowV1: true, v1: { log: () => undefined } });
    const strict = await Peer.create({ entityId: 'strict2' });
    peers.push(modern, legacy, me, strict);
    const v11 = await modern.listen();
    const legacyUrl = `http://127.0.0.1:${(await legacy.listenV1()).port}`;
    legacy.addV1Peer('me', `http://127.0.0.1:${(await me.listenV1()).port}`);
    const first = await me.connectAny(v11, { entityId: 'modern', v1Url: 'http://127.0.0.1:1' });
    expect(first.version).toBe('1.1');
    // legacy has no v1.1 listener: nothing answers on the port we try.
    const fallbacks: unknown[] = [];
    me.on('v1Fallback', (e) => fallbacks.push(e));
    const noListener = await Peer.create({ entityId: 'gone' });
    const gone = await noListener.listen();
    await noListener.close();
    const second = await me.connectAny(gone, { entityId: 'legacy', v1Url: legacyUrl });
    expect(second.version).toBe('1.0');
    expect(fallbacks).toHaveLength(1);
    // Without allowV1 there is no fallback: the v1.1 failure stands.
    await expect(strict.connectAny(gone, { entityId: 'legacy', v1Url: legacyUrl })).rejects.toMatchObject({ code: 'UNREACHABLE' }); // refused, not a session that died
  });
});
