/** Reassembler: every cause of CHUNK_ERROR, memory bounds, buffered and streamed delivery. */
import { describe, expect, it } from 'vitest';
import { MemoryBudget, Reassembler, planChunks, chunkLength, CHUNK_PREFIX_BYTES } from '../../src/chunking/index.js';
import { PeerError } from '../../src/index.js';
import { feed as feedAt, plainOf, type Fields } from '../helpers/chunks.js';

const T = 1000;

/** Feeds one chunk at time T (see helpers/chunks.ts). */
function feed(r: Reassembler, fields: Fields, plain: Buffer, now = T) {
  return feedAt(r, fields, plain, now);
}

function chunkErr(fn: () => unknown): PeerError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PeerError);
    expect((e as PeerError).code).toBe('CHUNK_ERROR');
    return e as PeerError;
  }
  throw new Error('expected CHUNK_ERROR');
}

describe('Reassembler', () => {
  it('reassembles chunks arriving in any order into one buffer', () => {
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const plan = planChunks(payload.length, 999);
    const r = new Reassembler();
    const order = Array.from({ length: plan.count }, (_, i) => i).reverse();
    let done: unknown[] = [];
    for (const i of order) done = feed(r, { messageId: 0, index: i, count: plan.count, totalLength: payload.length }, plainOf(payload, plan.size, i))!;
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ kind: 'message', type: 0x04 });
    expect(Buffer.from((done[0] as { payload: Buffer }).payload).equals(payload)).toBe(true);
    expect(r.inProgress).toBe(0);
  });

  it('tolerates a duplicate chunk with the same content, refuses one with different content', () => {
    const payload = Buffer.alloc(300, 7);
    const r = new Reassembler();
    const f = (index: number) => ({ messageId: 1, index, count: 3, totalLength: 300 });
    feed(r, f(1), plainOf(payload, 100, 1));
    expect(feed(r, f(1), plainOf(payload, 100, 1))).toEqual([]);
    const e = chunkErr(() => feed(r, f(1), Buffer.alloc(100, 8)));
    expect(e.details).toMatchObject({ messageId: 1 });
    expect(r.inProgress).toBe(0);
  });

  it('refuses an index out of range, a wrong chunk size, and a count or total that changes', () => {
    const r = new Reassembler();
    chunkErr(() => r.prepare({ messageId: 0, index: 3, count: 3, totalLength: 300 }, 100, T, 0));
    chunkErr(() => r.prepare({ messageId: 1, index: 0, count: 0, totalLength: 300 }, 100, T, 0));
    chunkErr(() => r.prepare({ messageId: 2, index: 1, count: 3, totalLength: 300 }, 99, T, 0));
    chunkErr(() => r.prepare({ messageId: 3, index: 0, count: 3, totalLength: 300 }, 100, T, 0)); // chunk 0 carries the type byte too
    feed(r, { messageId: 4, index: 0, count: 3, totalLength: 300 }, Buffer.alloc(101));
    chunkErr(() => r.prepare({ messageId: 4, index: 1, count: 4, totalLength: 300 }, 100, T, 0));
    feed(r, { messageId: 5, index: 0, count: 3, totalLength: 300 }, Buffer.alloc(101));
    chunkErr(() => r.prepare({ messageId: 5, index: 1, count: 3, totalLength: 301 }, 100, T, 0));
    chunkErr(() => r.prepare({ messageId: 6, index: 0, count: 5, totalLength: 4 }, 2, T, 0)); // more chunks than bytes
    expect(r.inProgress).toBe(0);
  });

  it('drops later chunks of a refused message silently (it was reported once)', () => {
    const r = new Reassembler();
    chunkErr(() => r.prepare({ messageId: 9, index: 1, count: 3, totalLength: 300 }, 5, T, 0));
    expect(r.prepare({ messageId: 9, index: 2, count: 3, totalLength: 300 }, 100, T, 0)).toBeNull();
    expect(r.isNewMessage({ messageId: 9, index: 0, count: 3, totalLength: 300 })).toBe(false);
    expect(r.isNewMessage({ messageId: 10, index: 0, count: 3, totalLength: 300 })).toBe(true);
  });

  it('abandons a message whose next chunk is late (timeout)', () => {
    const r = new Reassembler({ timeoutMs: 500 });
    feed(r, { messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    expect(r.deadline).toBe(T + 500);
    expect(r.expire(T + 499)).toEqual([]);
    const [e] = r.expire(T + 500);
    expect(e!.code).toBe('CHUNK_ERROR');
    expect(r.inProgress).toBe(0);
    expect(r.deadline).toBeNull();
  });

  it('refuses more concurrent messages than allowed', () => {
    const r = new Reassembler({ maxConcurrent: 2 });
    feed(r, { messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    feed(r, { messageId: 1, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    chunkErr(() => r.prepare({ messageId: 2, index: 0, count: 2, totalLength: 200 }, 101, T, 0));
    expect(r.inProgress).toBe(2);
  });

  it('refuses a message over the size limit, and one over the memory budget, freeing it', () => {
    chunkErr(() => new Reassembler({ maxMessageSize: 1000 }).prepare({ messageId: 0, index: 0, count: 2, totalLength: 1001 }, 501, T, 0));
    const processBudget = new MemoryBudget(1500);
    const peerA = new MemoryBudget(1200, processBudget);
    const peerB = new MemoryBudget(1200, processBudget);
    const a = new Reassembler({ budget: peerA });
    const b = new Reassembler({ budget: peerB });
    feed(a, { messageId: 0, index: 0, count: 2, totalLength: 1000 }, Buffer.alloc(501));
    expect(peerA.inUse).toBe(1001);
    chunkErr(() => a.prepare({ messageId: 1, index: 0, count: 2, totalLength: 1000 }, 501, T, 0)); // peer bound
    chunkErr(() => b.prepare({ messageId: 0, index: 0, count: 2, totalLength: 1000 }, 501, T, 0)); // process bound
    expect(processBudget.inUse).toBe(1001);
    feed(a, { messageId: 0, index: 1, count: 2, totalLength: 1000 }, Buffer.alloc(500));
    expect(peerA.inUse).toBe(0); // handed to the application, no longer reassembly memory
    feed(b, { messageId: 1, index: 0, count: 2, totalLength: 1000 }, Buffer.alloc(501));
    expect(peerB.inUse).toBe(1001);
    b.clear();
    expect(processBudget.inUse).toBe(0);
  });

  it('streams a message above the threshold chunk by chunk, in order only', () => {
    const r = new Reassembler({ streamThreshold: 100 });
    const plan = planChunks(250, 100);
    const ev0 = feed(r, { messageId: 0, index: 0, count: plan.count, totalLength: 250 }, Buffer.alloc(chunkLength(plan, 0) + CHUNK_PREFIX_BYTES, 1))!;
    expect(ev0.map((e) => e.kind)).toEqual(['stream-start', 'stream-data']);
    chunkErr(() => r.prepare({ messageId: 0, index: 2, count: plan.count, totalLength: 250 }, chunkLength(plan, 2), T, 0));
    const s = new Reassembler({ streamThreshold: 100 });
    let last = false;
    for (let i = 0; i < plan.count; i++) {
      const ev = feed(s, { messageId: 0, index: i, count: plan.count, totalLength: 250 }, Buffer.alloc(chunkLength(plan, i) + (i === 0 ? 1 : 0)))!;
      last = (ev[ev.length - 1] as { last: boolean }).last;
    }
    expect(last).toBe(true);
    expect(s.inProgress).toBe(0);
  });

  it('a buffer that cannot be allocated is a CHUNK_ERROR and gives its budget back', () => {
    // Over Node's largest Buffer (4 GiB): the allocation throws, as it would out of memory.
    const total = 2 ** 33;
    const budget = new MemoryBudget(2 ** 34);
    const r = new Reassembler({ maxMessageSize: total, streamThreshold: total, budget });
    const plan = planChunks(total, 2 ** 20);
    const err = chunkErr(() => r.prepare({ messageId: 0, index: 1, count: plan.count, totalLength: total }, plan.size, T, 0));
    expect(err.message).toMatch(/could not allocate/);
    expect(budget.inUse).toBe(0);
    expect(r.inProgress).toBe(0);
  });

  it('an abandoned message has the plaintext of the chunks that arrived wiped', () => {
    const payload = Buffer.alloc(4000, 0xab);
    const plan = planChunks(payload.length, 1000);
    const r = new Reassembler({ timeoutMs: 10 });
    const regions: Uint8Array[] = [];
    for (const i of [0, 2]) {
      const fields = { messageId: 7, index: i, count: plan.count, totalLength: payload.length };
      const plain = plainOf(payload, plan.size, i);
      const target = r.prepare(fields, plain.length, T, 0)!;
      target.into!.set(plain);
      r.commit(fields, target, target.into!);
      regions.push(target.into!);
    }
    expect(regions.every((b) => b.some((x) => x !== 0))).toBe(true);
    const [err] = r.expire(T + 10);
    expect(err).toMatchObject({ code: 'CHUNK_ERROR', details: { messageId: 7 } });
    expect(regions.map((b) => b.every((x) => x === 0))).toEqual([true, true]);
  });
});
