/**
 * session.write() → boolean with 'drain' (as node:net), and the 'messages' batch event, over
 * real TCP; and a received run charged to its class with one limiter call takes exactly the
 * tokens message-by-message charging took.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { Peer, PeerError, type MessageV11, type Session } from '../../src/index.js';
import { NO_LIMITS } from '../helpers/limits.js';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function pair(bobOptions: Parameters<typeof Peer.create>[0] = {}, aliceOptions: Parameters<typeof Peer.create>[0] = {}): Promise<{ s: Session; incoming: Session; bob: Peer }> {
  const bob = await Peer.create({ entityId: 'bob', rateLimits: NO_LIMITS, ...bobOptions });
  const alice = await Peer.create({ entityId: 'alice', rateLimits: NO_LIMITS, ...aliceOptions });
  peers.push(alice, bob);
  const addr = await bob.listen();
  const accepted = new Promise<Session>((r) => bob.once('session', r));
  const s = await alice.connect(addr);
  return { s, incoming: await accepted, bob };
}

describe('session.write() and drain', () => {
  it('returns false once the queue is full, emits drain when there is room, and keeps call order with send()', async () => {
    const maxPendingBytes = 64 * 1024;
    const { s, incoming } = await pair({ session: { maxBufferedMessages: 16 } }, { session: { maxPendingBytes } });
    const reader = incoming[Symbol.asyncIterator](); // iterating, not reading yet: the socket will pause
    const payload = Buffer.alloc(1024, 1);
    const total = 20_000; // 20 MiB: far more than the socket buffers hold
    let falses = 0;
    let drains = 0;
    s.on('drain', () => drains++);
    const writer = (async () => {
      for (let i = 0; i < total; i++) {
        payload.writeUInt32BE(i, 0);
        // Every 1000th goes through send(): the same queue, the same order.
        const ok = i % 1000 === 500 ? (await s.send(Buffer.from(payload)), true) : s.write(Buffer.from(payload));
        if (!ok) {
          falses++;
          expect(s.bufferedBytes).toBeGreaterThan(0);
          await once(s, 'drain');
        }
      }
    })();
    for (let i = 0; i < total; i++) {
      const { value } = (await reader.next()) as IteratorResult<MessageV11>;
      expect(value.seq).toBe(i);
      expect(Buffer.from(value.payload).readUInt32BE(0)).toBe(i);
    }
    await writer;
    expect(falses).toBeGreaterThan(0);
    expect(drains).toBe(falses);
  }, 60_000);

  it('throws what send() would reject with once the session is closed', async () => {
    const { s } = await pair();
    expect(s.write('x')).toBe(true);
    await s.close();
    let err: unknown;
    try {
      s.write('y');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PeerError);
    await expect(s.send('y')).rejects.toBeInstanceOf(PeerError);
  });
});

describe("the 'messages' batch", () => {
  it('hands out the messages of one read at once, in order, to session and peer listeners, before each message event', async () => {
    const { s, incoming, bob } = await pair();
    const batches: number[][] = [];
    const peerBatches: number[][] = [];
    const each: number[] = [];
    incoming.on('messages', (batch) => {
      expect(batch.every((m) => !each.includes(m.seq))).toBe(true); // before their 'message' events
      batches.push(batch.map((m) => m.seq));
    });
    bob.on('messages', (batch, session) => {
      expect(session).toBe(incoming);
      peerBatches.push(batch.map((m) => m.seq));
    });
    const got = new Promise<void>((resolve) => incoming.on('message', (m) => {
      each.push(m.seq);
      if (each.length === 250) resolve();
    }));
    // Written in one tick: one record, opened in one read, so one batch of 200.
    for (let i = 0; i < 200; i++) expect(s.write(`m${i}`, { type: 'status' })).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 200; i < 250; i++) s.write(`m${i}`);
    await got;
    expect(each).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(batches.flat()).toEqual(each);
    expect(peerBatches).toEqual(batches);
    expect(batches[0]!.length).toBe(200);
  });

  it('a run over the limit: exactly the burst is delivered, the rest refused, as per message', async () => {
    // task: burst 60 (the spec's default); 100 tasks and 30 heartbeats interleaved in one record.
    const { s, incoming, bob } = await pair({ rateLimits: undefined });
    const got: string[] = [];
    let refused = 0;
    incoming.on('rateLimited', () => refused++);
    incoming.on('message', (m) => got.push(`${m.type}:${Buffer.from(m.payload).toString()}`));
    const rejected = once(s, 'rejected');
    const expected: string[] = [];
    let tasks = 0;
    for (let i = 0; i < 130; i++) {
      const heartbeat = i % 13 === 0 || i % 13 === 5 || i % 13 === 9;
      s.write(String(i), { type: heartbeat ? 'heartbeat' : 'task' });
      if (heartbeat) expected.push(`heartbeat:${i}`);
      else if (tasks++ < 60) expected.push(`task:${i}`);
    }
    const [err] = (await rejected) as [PeerError];
    expect(err.code).toBe('RATE_LIMITED');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(expected);
    expect(refused).toBe(tasks - 60);
    expect(bob.stats().rateLimited.dropped.task).toBe(tasks - 60);
  });
});
