/**
 * Issue 12 item 1 over TCP: concurrent send()s arrive in call order whatever their sizes
 * (chunked or not) and however many are pending, and each promise resolves with its own
 * message's number; a message that arrives with READY is seen by the session's listener and
 * iterator.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, type MessageV11, type Session } from '../../src/index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pair(opts: Parameters<typeof Peer.create>[0] = {}): Promise<{ server: Peer; client: Peer; session: Session }> {
  const server = await Peer.create({ entityId: 'server', ...opts });
  const client = await Peer.create({ entityId: 'client', ...opts });
  cleanup.push(() => client.close(), () => server.close());
  const { port } = await server.listen();
  return { server, client, session: await client.connect({ host: '127.0.0.1', port }) };
}

/** Payload i of `size` bytes: its index in the first 4 bytes (when it fits), then a pattern. */
function payload(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  if (size >= 4) b.writeUInt32BE(i, 0);
  return b;
}

const unlimited = { rateLimits: { classes: { task: 'unlimited', chunk: 'unlimited' } } } as const;

describe('send order is call order (TCP)', () => {
  it('random sizes 0 B - 1 MiB, random await patterns: arrival order, payloads and resolved numbers match the calls', async () => {
    const { server, session } = await pair(unlimited);
    let base = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({
          size: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 65_000, max: 66_000 }), fc.integer({ min: 0, max: 1 << 20 })),
          awaitIt: fc.boolean(),
        }), { minLength: 1, maxLength: 40 }),
        async (calls) => {
          const got: MessageV11[] = [];
          const all = new Promise<void>((resolve) => {
            const on = (m: MessageV11): void => {
              got.push(m);
              if (got.length === calls.length) {
                server.off('message', on as never);
                resolve();
              }
            };
            server.on('message', on as never);
          });
          const seqs: Promise<number>[] = [];
          for (const [i, c] of calls.entries()) {
            const p = session.send(payload(i, c.size), { type: 'task' });
            seqs.push(p);
            if (c.awaitIt) await p;
          }
          const resolved = await Promise.all(seqs);
          await all;
          expect(resolved).toEqual(calls.map((_, i) => base + i));
          expect(got.map((m) => m.seq)).toEqual(resolved);
          got.forEach((m, i) => {
            expect(m.payload.length).toBe(calls[i]!.size);
            expect(Buffer.from(m.payload).equals(payload(i, calls[i]!.size))).toBe(true);
          });
          base += calls.length;
        },
      ),
      { numRuns: 25, seed: 12 },
    );
  });

  it('100,000 small sends without awaiting (past the 1 MiB queue) keep call order and numbers', async () => {
    const { server, session } = await pair(unlimited);
    const n = 100_000;
    const order: number[] = [];
    const done = new Promise<void>((resolve) => server.on('message', (m) => {
      if (m.version !== '1.1') return;
      order.push(Buffer.from(m.payload).readUInt32BE(0));
      if (order.length === n) resolve();
    }));
    const seqs = await Promise.all(Array.from({ length: n }, (_, i) => session.send(payload(i, 8 + (i % 40)), { type: 'task' })));
    await done;
    expect(seqs.every((s, i) => s === i)).toBe(true);
    expect(order.every((x, i) => x === i)).toBe(true);
  });

  it('bursts of unawaited sends each followed by an awaited one (the queue refills while it drains) never stall', async () => {
    const { server, session } = await pair(unlimited);
    let received = 0;
    server.on('message', () => void received++);
    let sent = 0;
    for (let round = 0; round < 150; round++) {
      for (let i = 0; i < 256; i++, sent++) void session.send(payload(sent, 1024), { type: 'task' });
      expect(await session.send(payload(sent, 1024), { type: 'task' })).toBe(sent);
      sent++;
    }
    while (received < sent) await new Promise((r) => setTimeout(r, 10));
    expect(received).toBe(sent);
  });

  it('40 x 64 KiB sends issued together arrive in order (each chunked)', async () => {
    const { server, session } = await pair(unlimited);
    const got: number[] = [];
    const done = new Promise<void>((resolve) => server.on('message', (m) => {
      if (m.version === '1.1') got.push(Buffer.from(m.payload).readUInt32BE(0));
      if (got.length === 40) resolve();
    }));
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => session.send(payload(i, 64 * 1024), { type: 'task' })));
    await done;
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe('no message before the application has the session (TCP)', () => {
  it('a server that sends on READY: the session listener and the iterator both see message 0, on every connection', async () => {
    const server = await Peer.create({ entityId: 'server', rateLimits: { classes: { handshake: 'unlimited' } } });
    cleanup.push(() => server.close());
    server.on('session', (s) => void s.send('first', { type: 'status' }).then(() => s.send('second', { type: 'status' })));
    const { port } = await server.listen();
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    for (let i = 0; i < 50; i++) {
      const s = await client.connect({ host: '127.0.0.1', port });
      const viaListener: string[] = [];
      s.on('message', (m) => viaListener.push(Buffer.from(m.payload).toString()));
      const it = s[Symbol.asyncIterator]();
      const first = await it.next();
      const second = await it.next();
      expect([Buffer.from(first.value!.payload).toString(), Buffer.from(second.value!.payload).toString()]).toEqual(['first', 'second']);
      expect(viaListener).toEqual(['first', 'second']);
      await s.close();
    }
  });
});
