/**
 * Squatting the reassembly budgets, over real TCP against a victim Peer in a child process (its
 * own process-wide budget): throw-away identities announcing 64 MiB messages, strangers from one
 * address prefix holding real bytes, chunk 0s that dodge the rate classes, a chunk trickle that
 * keeps a message alive, a bitmap bigger than the bytes sent, a forged chunk that allocates
 * before its tag is checked. Each time a pinned peer (or another prefix) must keep its room.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, wire, type Session } from '../../src/index.js';
import { encodeErrorPayload, type ErrorPayload } from '../../src/session/run.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { Victim } from '../helpers/victim.js';

const MiB = 1024 * 1024;
const TASK = 0x04;
const PING = 0x01;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The cut an honest sender makes (PROTOCOL.md, chunked messages): 64 KiB records. */
function cut(total: number): { count: number; size: number } {
  const count = Math.ceil(total / (64 * 1024 - 1));
  return { count, size: Math.ceil(total / count) };
}

/** Chunk `index`'s plaintext (chunk 0 leads with the type byte), filled with `fill`. */
function chunkPlain(total: number, count: number, index: number, type = TASK, fill = 0x5a): Buffer {
  const size = Math.ceil(total / count);
  const len = Math.min(size, total - index * size);
  const body = Buffer.alloc(len, fill);
  return index === 0 ? Buffer.concat([Buffer.of(type), body]) : body;
}

function sendChunk(evil: AuthenticatedPeer, messageId: number, total: number, count: number, index: number, type = TASK): void {
  evil.send(wire.FrameType.Chunk, chunkPlain(total, count, index, type), { chunk: { messageId, index, count, totalLength: total } });
}

/** The sender gives its message up (CHUNK_ERROR, flag 0x08): the victim frees it. */
function abandon(evil: AuthenticatedPeer, messageId: number): void {
  evil.send(wire.FrameType.Error, encodeErrorPayload({ code: 'CHUNK_ERROR', reason: 'gave up', messageId, abandoned: true }));
}

/** Resolves once everything written on the attacker's socket has left it. */
async function flushed(evil: AuthenticatedPeer): Promise<void> {
  await new Promise<void>((r) => evil.raw.socket.write(Buffer.alloc(0), () => r()));
}

/** The next error record the victim sends, decoded (null when the connection closes first or none comes in time). */
async function nextError(evil: AuthenticatedPeer, timeoutMs: number): Promise<ErrorPayload | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    const f = await evil.raw.next(left).catch(() => null);
    if (f === null) return null;
    const [e] = evil.session.receive(f, Date.now());
    if (e?.kind === 'error') return e.error;
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** Waits until the victim's reassembly memory has stopped moving (the attack has landed). */
async function settled(victim: Victim): Promise<void> {
  let last = -1;
  let same = 0;
  const deadline = Date.now() + 20_000;
  while (same < 4 && Date.now() < deadline) {
    const now = (await victim.stats()).stats.reassembly.processBytesInUse;
    same = now === last ? same + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startVictim(options: Parameters<typeof Victim.start>[0]): Promise<{ victim: Victim; port: number }> {
  const victim = await Victim.start({ entityId: 'victim', ...options });
  cleanup.push(() => victim.kill());
  return { victim, port: await victim.listen() };
}

async function attacker(port: number, localAddress?: string): Promise<AuthenticatedPeer> {
  const evil = await AuthenticatedPeer.connect(port, {}, '127.0.0.1', localAddress);
  cleanup.push(() => evil.close());
  return evil;
}

function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** An honest Peer (pinned by the victim when its identity is in the victim's trust). */
async function honestPeer(entityId: string, identity: Identity, port: number, localAddress?: string): Promise<Session> {
  const p = await Peer.create({ entityId, identity });
  cleanup.push(() => p.close());
  return localAddress === undefined ? p.connect(`127.0.0.1:${port}`) : p.connectStream(await connectFrom(port, localAddress));
}

/**
 * Sends `n` chunked messages of `size` bytes and waits until each is either delivered (the
 * victim's message count) or refused (a CHUNK_ERROR / RATE_LIMITED notice to the sender).
 */
async function deliver(victim: Victim, s: Session, n: number, size: number): Promise<{ delivered: number; refused: number }> {
  let refused = 0;
  s.on('rejected', () => refused++);
  const before = (await victim.stats()).stats.messagesReceived;
  for (let i = 0; i < n; i++) await s.send(Buffer.alloc(size, i), { type: 'task' });
  let delivered = 0;
  await until(async () => {
    delivered = (await victim.stats()).stats.messagesReceived - before;
    return delivered + refused >= n;
  }, 60_000);
  return { delivered, refused };
}

describe('reassembly that an attacker cannot squat', () => {
  it('throw-away identities announcing 64 MiB messages leave a pinned peer\'s 1 MiB chunked messages 100% delivered', async () => {
    const pinned = Identity.generate();
    const { victim, port } = await startVictim({ trust: [['pinned', pinned.publicKey.toString('hex')]] });
    // 12 identities, each starting as many 64 MiB messages as a session may (4), chunk 0 only:
    // on the old code the first 8 reserve 8 × 64 MiB = the whole 512 MiB process budget.
    const total = 64 * MiB - 1;
    const { count } = cut(total);
    const evil: AuthenticatedPeer[] = [];
    for (let k = 0; k < 12; k++) {
      const e = await attacker(port, `127.0.0.${10 + k}`); // as many addresses: per-address handshake limits do not stop them
      for (let id = 0; id < 4; id++) sendChunk(e, id, total, count, 0);
      evil.push(e);
    }
    await Promise.all(evil.map(flushed));
    await settled(victim);
    const s = await honestPeer('pinned', pinned, port);
    const { delivered, refused } = await deliver(victim, s, 32, MiB);
    expect({ delivered, refused }).toEqual({ delivered: 32, refused: 0 });
    // The squatters hold what they sent (a chunk and a bitmap each), not what they announced.
    const { reassembly } = (await victim.stats()).stats;
    expect(reassembly.bytesInUse).toBeLessThan(12 * 4 * 128 * 1024);
  }, 120_000);

  it('strangers from one address prefix holding real bytes leave room for another prefix and for a pinned peer', async () => {
    const pinned = Identity.generate();
    const { victim, port } = await startVictim({
      trust: [['pinned', pinned.publicKey.toString('hex')]],
      maxReassemblyBytesPerProcess: 24 * MiB,
      maxReassemblyBytesUnpinned: 12 * MiB,
      maxReassemblyBytesPerPrefix: 6 * MiB,
    } as Parameters<typeof Victim.start>[0]);
    // 8 identities on 127.0.0.1, each sending 3 MiB of a 4 MiB message and then stalling.
    const total = 4 * MiB - 1;
    const { count, size } = cut(total);
    const evil: AuthenticatedPeer[] = [];
    for (let k = 0; k < 8; k++) {
      const e = await attacker(port, '127.0.0.1');
      for (let i = 0; i * size < 3 * MiB; i++) sendChunk(e, 0, total, count, i);
      evil.push(e);
    }
    await Promise.all(evil.map(flushed));
    await settled(victim);
    const stranger = await honestPeer('stranger', Identity.generate(), port, '127.0.0.2');
    expect(await deliver(victim, stranger, 1, 3 * MiB)).toEqual({ delivered: 1, refused: 0 });
    const friend = await honestPeer('pinned', pinned, port, '127.0.0.1');
    expect(await deliver(victim, friend, 2, 3 * MiB)).toEqual({ delivered: 2, refused: 0 });
    expect((await victim.stats()).stats.reassembly.processBytesInUse).toBeLessThanOrEqual(12 * MiB);
  }, 120_000);

  it('a chunked message is charged to `chunk` and to its type\'s class at chunk 0, whether or not it ever completes', async () => {
    const { victim, port } = await startVictim({ rateLimits: { classes: { chunk: { perMinute: 1, burst: 8 }, heartbeat: { perMinute: 1, burst: 4 } } } });
    // 6 ping messages (class heartbeat, burst 4), each abandoned after its chunk 0.
    const a = await attacker(port);
    for (let id = 0; id < 6; id++) {
      sendChunk(a, id, 1000, 2, 0, PING);
      abandon(a, id);
    }
    // 12 task messages from another identity (chunk burst 8), each abandoned after chunk 0.
    const b = await attacker(port);
    for (let id = 0; id < 12; id++) {
      sendChunk(b, id, 1000, 2, 0, TASK);
      abandon(b, id);
    }
    await Promise.all([flushed(a), flushed(b)]);
    expect(await until(async () => {
      const { dropped } = (await victim.stats()).stats.rateLimited;
      return dropped.heartbeat === 2 && dropped.chunk === 4;
    }, 10_000)).toBe(true);
    expect((await nextError(b, 5000))?.code).toBe('RATE_LIMITED');
    expect((await victim.stats()).stats.reassembly.bytesInUse).toBe(0);
  }, 60_000);

  it('a message trickled one chunk at a time is abandoned at its whole-message deadline', async () => {
    // Idle timer 1.5 s; the whole message (2 MiB) must arrive within 1.5 s + 2 MiB / (1 MiB/s) = 3.5 s.
    const { victim, port } = await startVictim({ session: { reassembly: { timeoutMs: 1500, minTransferRate: MiB } } } as Parameters<typeof Victim.start>[0]);
    const total = 2 * MiB - 1;
    const { count } = cut(total);
    const evil = await attacker(port);
    const started = Date.now();
    let refused: ErrorPayload | null = null;
    for (let i = 0; i < count - 1 && refused === null && Date.now() - started < 12_000; i++) {
      sendChunk(evil, 0, total, count, i); // one chunk every 300 ms: never idle for 1.5 s
      refused = await nextError(evil, 300);
    }
    expect(refused).toMatchObject({ code: 'CHUNK_ERROR', messageId: 0 });
    expect(refused!.reason).toMatch(/deadline/);
    expect((await victim.stats()).stats.reassembly.bytesInUse).toBe(0);
  }, 60_000);

  it('the arrived bitmap is charged to the budget with what arrived (at least 64 KiB), not the size announced', async () => {
    const { victim, port } = await startVictim({});
    const evil = await attacker(port);
    const count = 8 * MiB; // 8 Mi chunks of 1 byte: a bitmap of 1 MiB
    sendChunk(evil, 0, count, count, 0);
    await flushed(evil);
    expect(await until(async () => (await victim.stats()).stats.reassembly.bytesInUse > 0, 10_000)).toBe(true);
    // The bitmap (1 MiB) and chunk 0 — charged at least one record's worth, 64 KiB — not 8 MiB.
    expect((await victim.stats()).stats.reassembly.bytesInUse).toBe(count / 8 + 64 * 1024);
  }, 60_000);

  it.skipIf(process.env.PEERCOMM_NO_NATIVE === '1')('a chunk record whose tag fails allocates nothing before the session ends', async () => {
    const { victim, port } = await startVictim({});
    const pool = async () => (await victim.stats()).stats.reassembly.pool;
    const before = await pool();
    const evil = await attacker(port);
    // Chunk 0 of a 32 MiB message (a size the large-buffer pool serves), its last byte flipped.
    const total = 32 * MiB;
    const { count } = cut(total);
    const frame = evil.seal(wire.FrameType.Chunk, chunkPlain(total, count, 0), { chunk: { messageId: 0, index: 0, count, totalLength: total } });
    frame[frame.length - 1]! ^= 1;
    evil.raw.socket.write(frame);
    expect(await evil.nextErrorCode()).toBe('DECRYPTION_FAILED');
    const after = await pool();
    expect(after.hits + after.misses).toBe(before.hits + before.misses);
    expect((await victim.stats()).stats.reassembly.processBytesInUse).toBe(0);
  }, 60_000);
});
