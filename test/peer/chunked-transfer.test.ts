/**
 * Chunked transfer over TCP: a 64 MiB buffered message and a 1 GiB streamed one, verified by
 * SHA-256 at the receiver with memory bounded; every cause of CHUNK_ERROR provoked with
 * authenticated but ill-formed chunks, the session and the peer's other sessions going on.
 */
import crypto from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Peer, type Message, type Session } from '../../src/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { RecordForger } from '../helpers/record-forger.js';
import { NO_LIMITS } from '../helpers/limits.js';
import { planChunks } from '../../src/chunking/index.js';
import { DEFAULT_MAX_RECORD_PAYLOAD } from '../../src/session/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

let server: Peer;
let port: number;
let client: Peer;
let session: Session;
let friend: Session;

beforeAll(async () => {
  // Prefix and unpinned budgets above the peer's, so the memory-bound test meets the peer's 80 MiB.
  server = await Peer.create({
    entityId: 'server', session: { reassembly: { timeoutMs: 2000, maxConcurrent: 2 } }, rateLimits: NO_LIMITS,
    maxReassemblyBytesPerPeer: 80 * 1024 * 1024, maxReassemblyBytesPerPrefix: 256 * 1024 * 1024, maxReassemblyBytesUnpinned: 256 * 1024 * 1024,
  });
  port = (await server.listen()).port;
  client = await Peer.create({ entityId: 'client' });
  session = await client.connect({ host: '127.0.0.1', port });
  const other = await Peer.create({ entityId: 'friend' });
  friend = await other.connect({ host: '127.0.0.1', port });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

function nextMessage(p: Peer, from?: string): Promise<Message> {
  return new Promise((resolve) => {
    const on = (m: Message): void => {
      if (from !== undefined && m.from !== from) return;
      p.off('message', on);
      resolve(m);
    };
    p.on('message', on);
  });
}

async function stillServing(): Promise<void> {
  const got = nextMessage(server, 'friend');
  await friend.send('still there?');
  expect(Buffer.from((await got).payload).toString()).toBe('still there?');
}

/** Deterministic bytes, generated a block at a time. */
async function* pattern(total: number, block = 1 << 20): AsyncIterable<Buffer> {
  const b = Buffer.alloc(block);
  for (let sent = 0, k = 0; sent < total; k++) {
    const n = Math.min(block, total - sent);
    b.writeUInt32BE(k, 0);
    yield Buffer.from(b.subarray(0, n));
    sent += n;
  }
}

describe('chunked transfer over TCP', () => {
  it('a 64 MiB message (buffered) arrives whole, SHA-256 verified', async () => {
    const payload = crypto.randomBytes(64 * 1024 * 1024);
    const got = nextMessage(server, 'client');
    const seq = await session.send(payload, { type: 'task' });
    const m = await got;
    expect([m.seq, m.type, m.streamed, m.size]).toEqual([seq, 'task', false, payload.length]);
    expect(crypto.createHash('sha256').update(m.payload).digest('hex')).toBe(crypto.createHash('sha256').update(payload).digest('hex'));
  }, 60_000);

  it('peer.stats() shows reassembly memory while a buffered message is on its way, and none after', async () => {
    const total = 4 * 1024 * 1024;
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    const source = (async function* () {
      yield Buffer.alloc(1024 * 1024, 1);
      await paused;
      yield Buffer.alloc(total - 1024 * 1024, 2);
    })();
    const got = nextMessage(server, 'client');
    const sent = session.sendStream(source, { length: total, type: 'task' });
    // Reserved as chunks arrive: a bit per chunk, then the chunks the first 1 MiB filled (the
    // type byte and the 16 chunks of 64 KiB it cuts into), not the 4 MiB announced.
    const plan = planChunks(total, DEFAULT_MAX_RECORD_PAYLOAD - 1);
    const held = Math.ceil(plan.count / 8) + 1 + Math.floor((1024 * 1024) / plan.size) * plan.size;
    for (let i = 0; i < 400 && server.stats().reassembly.bytesInUse !== held; i++) await new Promise((r) => setTimeout(r, 25));
    expect(server.stats().reassembly).toMatchObject({ bytesInUse: held, unpinnedBytesInUse: held });
    expect(server.stats().reassembly.processBytesInUse).toBeGreaterThanOrEqual(held);
    release();
    await sent;
    expect((await got).size).toBe(total);
    expect(server.stats().reassembly.bytesInUse).toBe(0);
    expect(Object.keys(server.stats().reassembly.pool).sort()).toEqual(['hits', 'kept', 'keptBytes', 'misses']);
  });

  it('a 1 GiB message (streamed) arrives SHA-256 verified while memory stays bounded', async () => {
    const total = 1024 * 1024 * 1024;
    const expected = crypto.createHash('sha256');
    const source = (async function* () {
      for await (const b of pattern(total)) {
        expected.update(b);
        yield b;
      }
    })();
    // Memory is sampled after a full collection, so it shows what the two ends hold and not
    // garbage waiting for a GC (V8 lets tens of MiB of dropped socket and source buffers wait,
    // for a time that differs between Node versions and with load, and RSS keeps its high-water).
    const settle = async (): Promise<NodeJS.MemoryUsage> => {
      gc();
      await new Promise((r) => setTimeout(r, 5)); // external buffers are freed after the GC, off the main thread
      return process.memoryUsage();
    };
    const before = await settle();
    let peakRss = before.rss;
    let peakLive = 0;
    let samples = 0;
    let sending = true;
    const sampler = (async () => {
      while (sending) {
        const u = await settle();
        peakRss = Math.max(peakRss, u.rss);
        peakLive = Math.max(peakLive, u.heapUsed + u.arrayBuffers - before.heapUsed - before.arrayBuffers);
        samples++;
        await new Promise((r) => setTimeout(r, 45));
      }
    })();
    const received = (async () => {
      const m = await nextMessage(server, 'client');
      expect([m.streamed, m.size]).toEqual([true, total]);
      const h = crypto.createHash('sha256');
      let n = 0;
      for await (const chunk of m.stream()) {
        h.update(chunk);
        n += chunk.length;
      }
      return { n, digest: h.digest('hex') };
    })();
    await session.sendStream(source, { length: total, type: 'task' });
    const { n, digest } = await received;
    sending = false;
    await sampler;
    expect(n).toBe(total);
    expect(digest).toBe(expected.digest('hex'));
    // Both ends are in this process: what the two hold together (JS heap and buffers) stays
    // under 32 MiB, and their RSS grows by less than 64 MiB.
    expect(samples).toBeGreaterThan(20);
    expect(peakLive).toBeLessThan(32 * MiB);
    expect(peakRss - before.rss).toBeLessThan(64 * MiB);
  }, 180_000);

  it('a stream that yields fewer bytes than announced fails with CHUNK_ERROR on both sides', async () => {
    const refused = new Promise<Error>((r) => server.once('chunkError', r));
    await expect(session.sendStream(pattern(100_000), { length: 200_000 })).rejects.toMatchObject({ code: 'CHUNK_ERROR' });
    expect(await refused).toMatchObject({ code: 'CHUNK_ERROR' });
    const got = nextMessage(server, 'client');
    await session.send('after the failed stream');
    expect(Buffer.from((await got).payload).toString()).toBe('after the failed stream');
  });
});

describe('each cause of CHUNK_ERROR, with authenticated chunks', () => {
  async function forged(): Promise<{ raw: RawClient; forge: RecordForger; session: import('../../src/session/index.js').SecureSession }> {
    const raw = await RawClient.connect(port);
    const s = await raw.handshake();
    return { raw, forge: new RecordForger(raw.keys!), session: s };
  }

  /** The peer answers with a CHUNK_ERROR notice for `messageId`, then still takes messages on that session. */
  async function expectRefusedThenUsable(c: Awaited<ReturnType<typeof forged>>, messageId: number): Promise<void> {
    for (;;) {
      const f = await c.raw.next();
      if (f === null) throw new Error('connection closed: CHUNK_ERROR must not end the session');
      const [e] = c.session.receive(f, Date.now());
      if (e?.kind === 'error') {
        expect(e).toMatchObject({ fatal: false, error: { code: 'CHUNK_ERROR', messageId } });
        break;
      }
    }
    const got = nextMessage(server, 'raw');
    c.raw.send(c.forge.message(0x0c, Buffer.from('still usable')), true);
    expect(Buffer.from((await got).payload).toString()).toBe('still usable');
    await stillServing();
    c.raw.close();
  }

  const TYPE = Buffer.of(0x04);

  it('index out of range', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    c.raw.send(c.forge.chunk({ messageId: 0, index: 5, count: 2, totalLength: 200 }, Buffer.alloc(100)), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('size mismatch', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(60)])), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('count mismatch between chunks of one message', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    c.raw.send(c.forge.chunk({ messageId: 0, index: 1, count: 4, totalLength: 200 }, Buffer.alloc(50)), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('overlap: a chunk claiming another layout (total length changed)', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    c.raw.send(c.forge.chunk({ messageId: 0, index: 1, count: 2, totalLength: 150 }, Buffer.alloc(75)), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('a duplicate with different content', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 3, totalLength: 300 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    c.raw.send(c.forge.chunk({ messageId: 0, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(100, 1)), true);
    c.raw.send(c.forge.chunk({ messageId: 0, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(100, 2)), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('timeout', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    await expectRefusedThenUsable(c, 0); // the server's reassembly timeout is 2 s (generous: a loaded machine must not expire the other tests' messages)
  });

  it('too many at once', async () => {
    const c = await forged();
    for (let id = 0; id < 3; id++) {
      c.raw.send(c.forge.chunk({ messageId: id, index: 0, count: 2, totalLength: 200 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    }
    await expectRefusedThenUsable(c, 2); // the server allows 2
  });

  it('a first chunk other than chunk 0', async () => {
    const c = await forged();
    c.raw.send(c.forge.chunk({ messageId: 0, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(100)), true);
    await expectRefusedThenUsable(c, 0);
  });

  it('over the memory bound (the peer may hold 80 MiB) and over the message size limit', async () => {
    const c = await forged();
    const mib = 1024 * 1024;
    // Two 50 MiB messages, chunks alternating (both stay alive), each chunk reserved as it
    // arrives: the 1,600th chunk (message 1's 800th) is the first past 80 MiB.
    const size = Math.ceil(50 * mib / 1000);
    for (let i = 0; i < 800; i++) {
      for (const id of [0, 1]) c.raw.send(c.forge.chunk({ messageId: id, index: i, count: 1000, totalLength: 50 * mib }, i === 0 ? Buffer.concat([TYPE, Buffer.alloc(size)]) : Buffer.alloc(size)), true);
    }
    await expectRefusedThenUsable(c, 1);
    const d = await forged();
    d.raw.send(d.forge.chunk({ messageId: 0, index: 0, count: 2, totalLength: 2 ** 40 }, Buffer.concat([TYPE, Buffer.alloc(100)])), true);
    await expectRefusedThenUsable(d, 0);
  });
});
