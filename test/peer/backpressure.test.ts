import { afterEach, describe, expect, it } from 'vitest';
import { Peer, type Session } from '../../src/index.js';
import { NO_LIMITS } from '../helpers/limits.js';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

describe('backpressure', () => {
  it('a reader that stops reading makes send() wait, and the sender buffers a bounded amount', async () => {
    const maxPendingBytes = 256 * 1024;
    const bob = await Peer.create({ entityId: 'bob', session: { maxBufferedMessages: 64 }, rateLimits: NO_LIMITS });
    const alice = await Peer.create({ entityId: 'alice', session: { maxPendingBytes }, rateLimits: NO_LIMITS });
    peers.push(alice, bob);
    const addr = await bob.listen();
    const accepted = new Promise<Session>((r) => bob.once('session', r));
    const s = await alice.connect(addr);
    const incoming = await accepted;
    const reader = incoming[Symbol.asyncIterator](); // iterating, but not reading yet
    const payload = Buffer.alloc(16 * 1024, 7);
    let completed = 0;
    let maxBuffered = 0;
    const total = 4000; // 64 MiB: far more than any socket buffer
    const writer = (async () => {
      for (let i = 0; i < total; i++) {
        await s.send(payload);
        completed++;
        maxBuffered = Math.max(maxBuffered, s.bufferedBytes);
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const stalledAt = completed;
    await new Promise((r) => setTimeout(r, 300));
    expect(completed).toBe(stalledAt); // the writer is waiting, not buffering
    expect(completed).toBeLessThan(total / 4);
    // Now read everything: the writer resumes and every message arrives in order.
    for (let i = 0; i < total; i++) {
      const { value } = await reader.next();
      expect(value.seq).toBe(i);
    }
    await writer;
    expect(completed).toBe(total);
    // What the sender held never exceeded its queue limit plus one socket write of records.
    expect(maxBuffered).toBeLessThan(maxPendingBytes + 2 * 1024 * 1024);
  }, 60_000);
});
