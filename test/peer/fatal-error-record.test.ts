/**
 * A fatal error record from the peer ends the session *and* closes its connection, found by
 * the authenticated fuzzer (test/fuzz/peer.test.ts shrank it to this one record): the session
 * ended, its timers stopped, and the socket stayed open for as long as the peer liked, past
 * every idle timeout, still counted against the listener's per-address cap.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Peer, wire } from '../../src/index.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';

const peers: Peer[] = [];
afterAll(async () => {
  for (const p of peers) await p.close();
});

describe('a fatal error record from a peer', () => {
  it('ends the session and closes its connection', async () => {
    const victim = await Peer.create({ entityId: 'victim' });
    peers.push(victim);
    const { port } = await victim.listen({ host: '127.0.0.1' });
    const evil = await AuthenticatedPeer.connect(port);
    evil.send(wire.FrameType.Error, encodeErrorPayload({ code: 'SEQUENCE_ERROR', reason: 'bye' }));
    const closed = await evil.closed(10_000);
    evil.close();
    expect(closed).toBe(true);
    expect(victim.stats().sessionErrors.SEQUENCE_ERROR).toBe(1);
  });
});
