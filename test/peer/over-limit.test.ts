/**
 * What an authenticated stranger can make us write by sending over its rate limit: one
 * RATE_LIMITED notice per (class, retry-after window), none while our socket needs draining,
 * and a peer that stays far over its limit is disconnected. Measured over real TCP against a
 * victim in a child process: a flood of records packed with empty `task` messages from a peer
 * that never reads must not grow the victim by 32 MiB.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, wire } from '../../src/index.js';
import { AuthenticatedPeer, runOf } from '../helpers/authenticated-peer.js';
import { Victim } from '../helpers/victim.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** As many empty `task` messages as fit a 64 KiB record (5 bytes each). */
const PER_RECORD = Math.floor(65_535 / 5);
const EMPTY_TASKS = runOf(Array.from({ length: PER_RECORD }, () => ({ type: 0x04, payload: Buffer.alloc(0) })));
const MiB = 1024 * 1024;

describe('replies a rate-limited peer can provoke', () => {
  it('one RATE_LIMITED notice per class and retry-after window, however many messages are refused', async () => {
    const server = await Peer.create({ entityId: 'server' });
    cleanup.push(() => server.close());
    const evil = await AuthenticatedPeer.connect((await server.listen({ host: '127.0.0.1' })).port);
    cleanup.push(() => evil.close());
    for (let i = 0; i < 3; i++) evil.send(wire.FrameType.Data, EMPTY_TASKS, { count: PER_RECORD });
    evil.send(wire.FrameType.Close, Buffer.from('x')); // malformed: its error record comes after every notice
    const codes: string[] = [];
    for (let f = await evil.raw.next(); f !== null; f = await evil.raw.next()) {
      for (const e of evil.session.receiveMany([f], Date.now()).events) if (e.kind === 'error') codes.push(e.error.code);
    }
    expect(server.stats().rateLimited.dropped.task).toBe(3 * PER_RECORD - 60); // the burst of 60 passed
    expect(codes.at(-1)).toBe('MALFORMED_FRAME');
    const notices = codes.filter((c) => c === 'RATE_LIMITED').length;
    expect(notices).toBeGreaterThanOrEqual(1);
    expect(notices).toBeLessThanOrEqual(2); // the task class's retry-after is 2 s; a slow run might see a second window
  });

  it('a peer far over its limit is disconnected with a fatal RATE_LIMITED (no seq)', async () => {
    const server = await Peer.create({ entityId: 'server', session: { overLimit: { factor: 10, seconds: 1 } } });
    cleanup.push(() => server.close());
    const errors: string[] = [];
    server.on('sessionError', (e: { code: string }) => errors.push(e.code));
    const evil = await AuthenticatedPeer.connect((await server.listen({ host: '127.0.0.1' })).port);
    cleanup.push(() => evil.close());
    evil.send(wire.FrameType.Data, EMPTY_TASKS, { count: PER_RECORD });
    const seen: { code: string; fatal: boolean; seq?: number }[] = [];
    for (let f = await evil.raw.next(); f !== null; f = await evil.raw.next()) {
      for (const e of evil.session.receiveMany([f], Date.now()).events) if (e.kind === 'error') seen.push({ code: e.error.code, fatal: e.fatal, seq: e.error.seq });
    }
    expect(seen.at(-1)).toEqual({ code: 'RATE_LIMITED', fatal: true, seq: undefined });
    expect(errors).toEqual(['RATE_LIMITED']);
    // The first 60 (the burst) passed; the rest of the record was never materialised as messages.
    expect(server.stats().messagesReceived).toBe(60);
  });

  it('a stranger flooding over-limit messages and never reading: bounded victim RSS, then disconnected (RATE_LIMITED)', async () => {
    const victim = await Victim.start({ entityId: 'victim' });
    cleanup.push(() => victim.kill());
    const evil = await AuthenticatedPeer.connect(await victim.listen());
    cleanup.push(() => evil.close());
    // Warm up the victim's receive path, then take the baseline.
    for (let i = 0; i < 4; i++) evil.send(wire.FrameType.Data, EMPTY_TASKS, { count: PER_RECORD });
    await new Promise((r) => setTimeout(r, 300));
    const baseline = (await victim.stats()).rss;
    evil.stopReading();
    let peak = baseline;
    const sampler = setInterval(() => void victim.stats().then((s) => (peak = Math.max(peak, s.rss)), () => undefined), 100);
    const socket = evil.raw.socket;
    let sent = 0;
    const until = Date.now() + 10_000;
    while (!socket.destroyed && !socket.writableEnded && Date.now() < until && victim.alive) {
      const record = evil.seal(wire.FrameType.Data, EMPTY_TASKS, { count: PER_RECORD });
      sent += record.length;
      if (!socket.write(record)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
    }
    const disconnected = await victim.waitFor((e) => e.event === 'sessionError' && e.code === 'RATE_LIMITED');
    clearInterval(sampler);
    const final = await victim.stats();
    peak = Math.max(peak, final.rss);
    console.log(`over-limit flood: sent ${(sent / MiB).toFixed(1)} MiB (${Math.round(sent / 65_600) * PER_RECORD} messages); ` +
      `victim refused ${final.stats.rateLimited.dropped.task} messages; victim RSS ${(baseline / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB (+${((peak - baseline) / MiB).toFixed(1)} MiB)`);
    expect(victim.alive).toBe(true);
    expect(disconnected).toBe(true);
    expect(peak - baseline).toBeLessThan(32 * MiB);
  }, 30_000);
});
