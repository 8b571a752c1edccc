/**
 * The large-buffer pool (native/buffer-pool.c behind src/chunking/buffer-pool.ts): buffers of
 * the exact size asked, reused only after V8 collected them, bounded in number, emptied when
 * idle, and reassembly through it still delivers exactly the bytes sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Reassembler, planChunks, CHUNK_PREFIX_BYTES } from '../../src/chunking/index.js';
import { allocReassemblyBuffer, bufferPoolStats, configureBufferPool, POOLED_BUFFER_MIN_BYTES } from '../../src/chunking/buffer-pool.js';
import { engine } from '../../src/index.js';
import { expectPeerError } from '../helpers/errors.js';
import { feed, plainOf, zeroThenReverse } from '../helpers/chunks.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;
const pooled = engine() === 'native';

/** Collects garbage until `done()` holds (finalizers of external buffers run after the GC, on the event loop). */
async function collectUntil(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50 && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
  return done();
}

/** Allocates through the pool in a scope of its own, so nothing keeps the buffer alive. */
function allocAndDrop(bytes: number, fill: number): number {
  const b = allocReassemblyBuffer(bytes);
  b.fill(fill);
  return b.length;
}

/** Empties the pool, including buffers earlier tests dropped that the GC has not collected yet. */
async function resetPool(opts: { buffers?: number; idleMs?: number } = {}): Promise<void> {
  configureBufferPool({ buffers: 0 });
  await collectUntil(() => false);
  configureBufferPool(opts);
}

afterEach(() => resetPool());

describe('large-buffer pool', () => {
  it('rejects bad settings with INVALID_ARGUMENT', () => {
    for (const opts of [{ buffers: -1 }, { buffers: 9 }, { buffers: 1.5 }, { idleMs: -1 }, { idleMs: 2 ** 31 }, { idleMs: Number.NaN }]) {
      expectPeerError(() => configureBufferPool(opts), 'INVALID_ARGUMENT');
    }
  });

  it('gives buffers of exactly the size asked, below and above the pooling threshold', () => {
    for (const bytes of [1, 4096, POOLED_BUFFER_MIN_BYTES - 1, POOLED_BUFFER_MIN_BYTES, 9 * MiB + 7]) {
      const b = allocReassemblyBuffer(bytes);
      expect(b.length).toBe(bytes);
      expect(b.buffer.byteLength).toBe(bytes);
    }
  });

  it.skipIf(!pooled)('reuses a large buffer only after it was collected, best fit first', async () => {
    await resetPool({ buffers: 2 });
    const held = allocReassemblyBuffer(16 * MiB);
    const start = bufferPoolStats();
    expect(start.kept).toBe(0);
    // Held: never handed out again, however much garbage is collected.
    expect(await collectUntil(() => bufferPoolStats().kept > 0)).toBe(false);
    held.fill(1);
    allocAndDrop(12 * MiB, 2);
    expect(await collectUntil(() => bufferPoolStats().kept === 1)).toBe(true);
    expect(bufferPoolStats().keptBytes).toBe(12 * MiB);
    // Too small for 16 MiB: a fresh allocation; big enough for 10 MiB: reused.
    const misses = bufferPoolStats().misses;
    const hits = bufferPoolStats().hits;
    const bigger = allocReassemblyBuffer(16 * MiB);
    expect(bufferPoolStats()).toMatchObject({ misses: misses + 1, hits, kept: 1 });
    const smaller = allocReassemblyBuffer(10 * MiB);
    expect(smaller.length).toBe(10 * MiB);
    expect(bufferPoolStats()).toMatchObject({ hits: hits + 1, kept: 0, keptBytes: 0 });
    expect(held[0]).toBe(1);
    expect(bigger.length + smaller.length).toBe(26 * MiB);
  });

  it.skipIf(!pooled)('keeps at most the configured number of buffers', async () => {
    await resetPool({ buffers: 2 });
    for (let i = 0; i < 5; i++) allocAndDrop(POOLED_BUFFER_MIN_BYTES + i, i);
    await collectUntil(() => false);
    expect(bufferPoolStats().kept).toBe(2);
    configureBufferPool({ buffers: 1 });
    expect(bufferPoolStats().kept).toBe(1);
    configureBufferPool({ buffers: 0 });
    allocAndDrop(POOLED_BUFFER_MIN_BYTES, 9);
    await collectUntil(() => false);
    expect(bufferPoolStats()).toMatchObject({ kept: 0, keptBytes: 0 });
  });

  it.skipIf(!pooled)('frees what it keeps once large buffers stop being asked for', async () => {
    await resetPool({ buffers: 2, idleMs: 300 });
    allocAndDrop(POOLED_BUFFER_MIN_BYTES, 1);
    expect(await collectUntil(() => bufferPoolStats().kept === 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 600));
    expect(bufferPoolStats()).toMatchObject({ kept: 0, keptBytes: 0 });
    // A buffer collected after the pool fell idle is freed, not kept.
    const late = allocReassemblyBuffer(POOLED_BUFFER_MIN_BYTES);
    await new Promise((r) => setTimeout(r, 600));
    late.fill(0);
    await collectUntil(() => false);
    expect(bufferPoolStats().kept).toBe(0);
  });

  it('reassembles message after message through recycled buffers, exactly the bytes sent', async () => {
    await resetPool();
    const r = new Reassembler({ maxMessageSize: 64 * MiB });
    const hitsBefore = bufferPoolStats().hits;
    for (let m = 0; m < 4; m++) {
      // Differently sized each time, so a recycled buffer never fits the message exactly.
      const [sent, got] = deliverOnce(r, m, POOLED_BUFFER_MIN_BYTES + 1000 * (4 - m));
      expect(got).toBe(sent);
      const kept = bufferPoolStats().kept;
      if (pooled) expect(await collectUntil(() => bufferPoolStats().kept > kept)).toBe(true);
    }
    if (pooled) expect(bufferPoolStats().hits - hitsBefore).toBe(3);
  });

  it.skipIf(!pooled)('a buffer that held an abandoned message is reused and still delivers exactly the bytes sent', async () => {
    await resetPool();
    const r = new Reassembler({ maxMessageSize: 64 * MiB, timeoutMs: 10 });
    const [sent0, got0] = deliverOnce(r, 0, POOLED_BUFFER_MIN_BYTES + 4000);
    expect(got0).toBe(sent0);
    expect(await collectUntil(() => bufferPoolStats().kept === 1)).toBe(true);
    const hits = bufferPoolStats().hits;
    abandonHalfway(r, 1, POOLED_BUFFER_MIN_BYTES + 3000);
    expect(bufferPoolStats().hits).toBe(hits + 1);
    expect(await collectUntil(() => bufferPoolStats().kept === 1)).toBe(true);
    const [sent2, got2] = deliverOnce(r, 2, POOLED_BUFFER_MIN_BYTES + 2000);
    expect(bufferPoolStats().hits).toBe(hits + 2);
    expect(got2).toBe(sent2);
  });
});

/** One message of random bytes fed chunk 0 first, then last chunk first; returns the SHA-256 of what was sent and of what was delivered. */
function deliverOnce(r: Reassembler, messageId: number, total: number): [string, string] {
  const payload = randomBytes(total);
  const plan = planChunks(total, 64 * 1024);
  let delivered: Buffer | null = null;
  for (const i of zeroThenReverse(plan.count)) {
    const events = feed(r, { messageId, index: i, count: plan.count, totalLength: total }, plainOf(payload, plan.size, i), 0);
    for (const e of events) if (e.kind === 'message') delivered = e.payload;
  }
  expect(delivered!.buffer.byteLength).toBe(total + CHUNK_PREFIX_BYTES);
  const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  return [digest(payload), digest(delivered!)];
}

/** Chunk 0 and every other chunk of a message of random bytes, then its timeout: the message is abandoned. */
function abandonHalfway(r: Reassembler, messageId: number, total: number): void {
  const payload = randomBytes(total);
  const plan = planChunks(total, 64 * 1024);
  for (const i of [0, ...Array.from({ length: plan.count >> 1 }, (_, k) => 2 * k + 1)]) {
    feed(r, { messageId, index: i, count: plan.count, totalLength: total }, plainOf(payload, plan.size, i), 0);
  }
  expect(r.expire(10).map((e) => e.code)).toEqual(['CHUNK_ERROR']);
}
