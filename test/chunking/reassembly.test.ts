/** Reassembler: every cause of CHUNK_ERROR, memory bounds, buffered and streamed delivery. */
import { constants as bufferConstants } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { MemoryBudget, Reassembler, planChunks, chunkLength, CHUNK_PREFIX_BYTES } from '../../src/chunking/index.js';
import { PeerError } from '../../src/index.js';
import { feed as feedAt, plainOf, zeroThenReverse, type Fields } from '../helpers/chunks.js';

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
  it('reassembles chunks arriving in any order after chunk 0 into one buffer', () => {
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const plan = planChunks(payload.length, 999);
    const r = new Reassembler();
    let done: unknown[] = [];
    for (const i of zeroThenReverse(plan.count)) done = feed(r, { messageId: 0, index: i, count: plan.count, totalLength: payload.length }, plainOf(payload, plan.size, i));
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ kind: 'message', type: 0x04 });
    expect(Buffer.from((done[0] as { payload: Buffer }).payload).equals(payload)).toBe(true);
    expect(r.inProgress).toBe(0);
  });

  it('tolerates a duplicate chunk with the same content, refuses one with different content', () => {
    const payload = Buffer.alloc(300, 7);
    const r = new Reassembler();
    const f = (index: number) => ({ messageId: 1, index, count: 3, totalLength: 300 });
    feed(r, f(0), plainOf(payload, 100, 0));
    feed(r, f(1), plainOf(payload, 100, 1));
    expect(r.regionFor(f(1), 100)).toBeNull(); // a duplicate is opened in place, never over what arrived
    expect(feed(r, f(1), plainOf(payload, 100, 1))).toEqual([]);
    const e = chunkErr(() => feed(r, f(1), Buffer.alloc(100, 8)));
    expect(e.details).toMatchObject({ messageId: 1 });
    expect(r.inProgress).toBe(0);
  });

  it('refuses an index out of range, a wrong chunk size, a count or total that changes, and a first chunk other than 0', () => {
    const r = new Reassembler();
    const first = (messageId: number) => feed(r, { messageId, index: 0, count: 3, totalLength: 300 }, Buffer.alloc(101));
    first(0);
    chunkErr(() => feed(r, { messageId: 0, index: 3, count: 3, totalLength: 300 }, Buffer.alloc(100)));
    chunkErr(() => feed(r, { messageId: 1, index: 0, count: 0, totalLength: 300 }, Buffer.alloc(100)));
    first(2);
    chunkErr(() => feed(r, { messageId: 2, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(99)));
    chunkErr(() => feed(r, { messageId: 3, index: 0, count: 3, totalLength: 300 }, Buffer.alloc(100))); // chunk 0 carries the type byte too
    first(4);
    chunkErr(() => feed(r, { messageId: 4, index: 1, count: 4, totalLength: 300 }, Buffer.alloc(100)));
    first(5);
    chunkErr(() => feed(r, { messageId: 5, index: 1, count: 3, totalLength: 301 }, Buffer.alloc(100)));
    chunkErr(() => feed(r, { messageId: 6, index: 0, count: 5, totalLength: 4 }, Buffer.alloc(2))); // more chunks than bytes
    const e = chunkErr(() => feed(r, { messageId: 7, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(100)));
    expect(e.message).toMatch(/starts with its chunk 0/);
    expect(r.inProgress).toBe(0);
  });

  it('drops later chunks of a refused message silently (it was reported once)', () => {
    const r = new Reassembler();
    chunkErr(() => feed(r, { messageId: 9, index: 1, count: 3, totalLength: 300 }, Buffer.alloc(5)));
    expect(feed(r, { messageId: 9, index: 2, count: 3, totalLength: 300 }, Buffer.alloc(100))).toEqual([]);
    expect(r.isNewMessage({ messageId: 9, index: 0, count: 3, totalLength: 300 })).toBe(false);
    expect(r.isNewMessage({ messageId: 10, index: 0, count: 3, totalLength: 300 })).toBe(true);
    expect(r.inProgress).toBe(0);
  });

  it('abandons a message whose next chunk is late (idle timeout)', () => {
    const r = new Reassembler({ timeoutMs: 500 });
    feed(r, { messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    expect(r.deadline).toBe(T + 500);
    expect(r.expire(T + 499)).toEqual([]);
    const [e] = r.expire(T + 500);
    expect(e!.code).toBe('CHUNK_ERROR');
    expect(r.inProgress).toBe(0);
    expect(r.deadline).toBeNull();
  });

  it('abandons a message not complete by its whole-message deadline, however often its chunks come', () => {
    // 100 bytes at 1000 B/s: 100 ms on top of the 500 ms idle timeout.
    const r = new Reassembler({ timeoutMs: 500, minTransferRate: 1000 });
    const f = (index: number) => ({ messageId: 0, index, count: 100, totalLength: 100 });
    feed(r, f(0), Buffer.alloc(2));
    for (let i = 1; i < 99; i++) feed(r, f(i), Buffer.alloc(1), T + i * 6); // a chunk every 6 ms
    expect(r.deadline).toBe(T + 600);
    const [e] = r.expire(T + 600);
    expect(e!.message).toMatch(/whole-message deadline/);
    expect(r.inProgress).toBe(0);
  });

  it('a duplicate keeps nothing alive', () => {
    const r = new Reassembler({ timeoutMs: 500 });
    const f = (index: number) => ({ messageId: 0, index, count: 2, totalLength: 200 });
    feed(r, f(0), Buffer.alloc(101));
    feed(r, f(0), Buffer.alloc(101), T + 400);
    expect(r.deadline).toBe(T + 500);
  });

  it('refuses more concurrent messages than allowed', () => {
    const r = new Reassembler({ maxConcurrent: 2 });
    feed(r, { messageId: 0, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    feed(r, { messageId: 1, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101));
    chunkErr(() => feed(r, { messageId: 2, index: 0, count: 2, totalLength: 200 }, Buffer.alloc(101)));
    expect(r.inProgress).toBe(2);
  });

  it('reserves memory as chunks arrive (the bitmap with chunk 0), refuses a chunk over the budget, and frees it', () => {
    chunkErr(() => feed(new Reassembler({ maxMessageSize: 1000 }), { messageId: 0, index: 0, count: 2, totalLength: 1001 }, Buffer.alloc(502)));
    const processBudget = new MemoryBudget(1500);
    const peerA = new MemoryBudget(1200, processBudget);
    const peerB = new MemoryBudget(1200, processBudget);
    // No minimum reservation here (see the next test): exactly what arrived.
    const a = new Reassembler({ budget: peerA, minReservation: 0 });
    const b = new Reassembler({ budget: peerB, minReservation: 0 });
    // 1000 bytes in 10 chunks of 100: a bitmap of 2 bytes, chunk 0 carries the type byte too.
    const chunk = (r: Reassembler, messageId: number, index: number) =>
      feed(r, { messageId, index, count: 10, totalLength: 1000 }, Buffer.alloc(index === 0 ? 101 : 100, index));
    chunk(a, 0, 0);
    expect(peerA.inUse).toBe(2 + 101);
    for (let i = 1; i < 9; i++) chunk(a, 0, i);
    expect(peerA.inUse).toBe(903);
    chunk(a, 1, 0);
    chunk(a, 1, 1);
    expect(peerA.inUse).toBe(1106);
    chunkErr(() => chunk(a, 1, 2)); // peer bound: 1206 > 1200
    expect(peerA.inUse).toBe(903); // message 1 freed
    for (let i = 0; i < 5; i++) chunk(b, 0, i);
    expect(processBudget.inUse).toBe(903 + 503);
    chunkErr(() => chunk(b, 0, 5)); // process bound: 1506 > 1500
    expect([peerB.inUse, processBudget.inUse]).toEqual([0, 903]);
    expect(chunk(a, 0, 9)).toMatchObject([{ kind: 'message' }]);
    expect(processBudget.inUse).toBe(0); // handed to the application, no longer reassembly memory
  });

  it('charges a buffered message at least minReservation (at most its size) from chunk 0; its chunks use that up first', () => {
    const budget = new MemoryBudget(100_000);
    const r = new Reassembler({ budget, minReservation: 500 });
    const f = (messageId: number, index: number, count: number, totalLength: number) => ({ messageId, index, count, totalLength });
    feed(r, f(0, 0, 100, 10_000), Buffer.alloc(101)); // 100 chunks of 100: bitmap 13
    expect(budget.inUse).toBe(13 + 500);
    for (let i = 1; i <= 3; i++) feed(r, f(0, i, 100, 10_000), Buffer.alloc(100));
    expect(budget.inUse).toBe(13 + 500); // 401 arrived
    feed(r, f(0, 4, 100, 10_000), Buffer.alloc(100));
    feed(r, f(0, 5, 100, 10_000), Buffer.alloc(100));
    expect(budget.inUse).toBe(13 + 601);
    feed(r, f(1, 0, 3, 300), Buffer.alloc(101)); // a message smaller than the minimum: its size
    expect(budget.inUse).toBe(13 + 601 + 1 + 301);
    r.clear();
    expect(budget.inUse).toBe(0);
  });

  it('charges `chunk`, then the type\'s class, at chunk 0 before reserving anything; a refused message\'s chunks are dropped', () => {
    const budget = new MemoryBudget(10_000);
    const charged: string[] = [];
    const refuse = new Set<string>();
    const r = new Reassembler({ budget, charge: (cls) => (charged.push(cls), refuse.has(cls) ? 1500 : 0) });
    const f = (messageId: number, index: number) => ({ messageId, index, count: 2, totalLength: 200 });
    feed(r, f(0, 0), Buffer.concat([Buffer.of(0x01), Buffer.alloc(100)])); // ping: class heartbeat
    expect(charged).toEqual(['chunk', 'heartbeat']);
    expect(feed(r, f(0, 1), Buffer.alloc(100))).toMatchObject([{ kind: 'message', type: 0x01 }]);
    refuse.add('task');
    expect(feed(r, f(1, 0), Buffer.concat([Buffer.of(0x04), Buffer.alloc(100)]))).toEqual([
      { kind: 'limited', seq: 0, messageId: 1, rateClass: 'task', retryAfter: 1500 },
    ]);
    expect([budget.inUse, r.inProgress]).toEqual([0, 0]);
    expect(feed(r, f(1, 1), Buffer.alloc(100))).toEqual([]);
    refuse.add('chunk');
    charged.length = 0;
    expect(feed(r, f(2, 0), Buffer.alloc(5))).toMatchObject([{ kind: 'limited', rateClass: 'chunk' }]); // even an ill-formed one
    expect(charged).toEqual(['chunk']);
  });

  it('regionFor() only reads: a region for a fresh chunk of a known message, null for anything else', () => {
    const r = new Reassembler({ budget: new MemoryBudget(10_000) });
    const f = (messageId: number, index: number, count = 3) => ({ messageId, index, count, totalLength: 300 });
    expect(r.regionFor(f(0, 0), 101)).toBeNull(); // a first chunk: opened in place
    feed(r, f(0, 0), Buffer.alloc(101));
    expect(r.regionFor(f(0, 1), 100)!.length).toBe(100);
    for (const [fields, len] of [[f(0, 1), 99], [f(0, 1, 4), 100], [f(0, 3), 100], [f(0, 0), 101], [f(1, 0), 101]] as const) {
      expect(r.regionFor(fields, len)).toBeNull();
    }
    expect(r.inProgress).toBe(1);
    expect(r.isNewMessage(f(1, 0))).toBe(true);
  });

  it('streams a message above the threshold chunk by chunk, in order only', () => {
    const r = new Reassembler({ streamThreshold: 100 });
    const plan = planChunks(250, 100);
    const ev0 = feed(r, { messageId: 0, index: 0, count: plan.count, totalLength: 250 }, Buffer.alloc(chunkLength(plan, 0) + CHUNK_PREFIX_BYTES, 1));
    expect(ev0.map((e) => e.kind)).toEqual(['stream-start', 'stream-data']);
    chunkErr(() => feed(r, { messageId: 0, index: 2, count: plan.count, totalLength: 250 }, Buffer.alloc(chunkLength(plan, 2))));
    const s = new Reassembler({ streamThreshold: 100 });
    let last = false;
    for (let i = 0; i < plan.count; i++) {
      const ev = feed(s, { messageId: 0, index: i, count: plan.count, totalLength: 250 }, Buffer.alloc(chunkLength(plan, i) + (i === 0 ? 1 : 0)));
      last = (ev[ev.length - 1] as { last: boolean }).last;
    }
    expect(last).toBe(true);
    expect(s.inProgress).toBe(0);
  });

  it('a buffer that cannot be allocated is a CHUNK_ERROR and gives its budget back', () => {
    // Node's largest Buffer plus the chunk prefix (4 GiB on Node 20, 2^53 - 1 from Node 22):
    // the allocation throws, as it would out of memory.
    const total = bufferConstants.MAX_LENGTH;
    const budget = new MemoryBudget(2 * total);
    const r = new Reassembler({ maxMessageSize: total, streamThreshold: total, budget });
    const plan = planChunks(total, 2 ** 22); // (under 2^32 chunks even at 2^53 bytes)
    const err = chunkErr(() => feed(r, { messageId: 0, index: 0, count: plan.count, totalLength: total }, Buffer.alloc(plan.size + 1)));
    expect(err.message).toMatch(/could not allocate/);
    expect(budget.inUse).toBe(0);
    expect(r.inProgress).toBe(0);
  });

  it('an abandoned message has the plaintext of the chunks that arrived wiped', () => {
    const payload = Buffer.alloc(4000, 0xab);
    const plan = planChunks(payload.length, 1000);
    const r = new Reassembler({ timeoutMs: 10 });
    const fields = (index: number) => ({ messageId: 7, index, count: plan.count, totalLength: payload.length });
    feed(r, fields(0), plainOf(payload, plan.size, 0));
    feed(r, fields(2), plainOf(payload, plan.size, 2));
    // The whole message buffer, seen through the region chunk 1 would go to.
    const region = r.regionFor(fields(1), plan.size)!;
    const buffer = Buffer.from(region.buffer, region.byteOffset - CHUNK_PREFIX_BYTES - plan.size, CHUNK_PREFIX_BYTES + payload.length);
    const arrived = () => [buffer.subarray(0, 1 + plan.size), buffer.subarray(1 + 2 * plan.size, 1 + 3 * plan.size)];
    expect(arrived().map((b) => b.every((x) => x !== 0))).toEqual([true, true]);
    const [err] = r.expire(T + 10);
    expect(err).toMatchObject({ code: 'CHUNK_ERROR', details: { messageId: 7 } });
    expect(arrived().map((b) => b.every((x) => x === 0))).toEqual([true, true]);
  });
});
