/**
 * Every rate class provoked over TCP with the spec's defaults: the message over the limit is
 * dropped and counted, the sender gets RATE_LIMITED with a retry-after (as an event, then from
 * send() until it passes), and the peer keeps serving its other sessions.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, Peer, wire, type Message, type Session } from '../../src/index.js';
import { Handshake, decodeHandshakeMessage } from '../../src/handshake/index.js';
import type { PeerError } from '../../src/index.js';

let server: Peer;
let port: number;
let friend: Session;
const cleanup: Peer[] = [];

beforeAll(async () => {
  server = await Peer.create({ entityId: 'server' });
  port = (await server.listen()).port;
  const f = await Peer.create({ entityId: 'friend' });
  server.trust.pin('friend', f.identity.publicKey); // trusted: not limited
  friend = await f.connect({ host: '127.0.0.1', port });
  cleanup.push(f);
});
afterAll(async () => {
  await Promise.all(cleanup.map((p) => p.close()));
  await server.close();
});

async function stillServing(): Promise<void> {
  const got = new Promise<Message>((r) => {
    const on = (m: Message): void => {
      if (m.from !== 'friend') return;
      server.off('message', on);
      r(m);
    };
    server.on('message', on);
  });
  await friend.send('still there?');
  expect(Buffer.from((await got).payload).toString()).toBe('still there?');
}

/** A fresh stranger (spec defaults apply to it) connected to the server. */
async function stranger(): Promise<Session> {
  const p = await Peer.create({ entityId: `stranger-${cleanup.length}` });
  cleanup.push(p);
  return p.connect({ host: '127.0.0.1', port });
}

describe.each([
  { type: 'heartbeat' as const, cls: 'heartbeat', burst: 120 },
  { type: 'task' as const, cls: 'task', burst: 60 },
  { type: 'discovery' as const, cls: 'discovery', burst: 20 },
])('RATE_LIMITED for $cls messages', ({ type, cls, burst }) => {
  it(`accepts the burst of ${burst}, then refuses, tells the sender, and serves others`, async () => {
    const s = await stranger();
    const received: number[] = [];
    const name = `stranger-${cleanup.length - 1}`;
    server.on('message', (m: Message) => {
      if (m.from === name) received.push(m.seq);
    });
    const rejected = new Promise<PeerError>((r) => s.once('rejected', r));
    const before = server.stats().rateLimited.dropped[cls as 'task'];
    for (let i = 0; i < burst + 5; i++) await s.send(`m${i}`, { type });
    const err = await rejected;
    expect(err).toMatchObject({ code: 'RATE_LIMITED', details: { seq: burst, rateClass: cls } });
    expect((err.details!.retryAfter as number)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(received.length).toBe(burst);
    expect(server.stats().rateLimited.dropped[cls as 'task'] - before).toBe(5);
    await expect(s.send('again', { type })).rejects.toMatchObject({ code: 'RATE_LIMITED', details: { class: cls } });
    expect(s.state).toBe('READY');
    await stillServing();
  });
});

it('pinning a limited peer lifts its limit at once (its buckets move to the trusted level)', async () => {
  // discovery: burst 5, then one every 100 ms; trusted peers are unlimited.
  const strict = await Peer.create({ entityId: 'strict', rateLimits: { classes: { discovery: { perMinute: 600, burst: 5 } } } });
  cleanup.push(strict);
  const p = await Peer.create({ entityId: 'promoted' });
  cleanup.push(p);
  const s = await p.connect({ host: '127.0.0.1', port: (await strict.listen()).port });
  const got: string[] = [];
  strict.on('message', (m: Message) => got.push(Buffer.from(m.payload).toString()));
  const rejected = new Promise<PeerError>((r) => s.once('rejected', r));
  for (let i = 0; i < 8; i++) await s.send(`before ${i}`, { type: 'discovery' });
  const err = await rejected;
  strict.trust.pin('promoted', p.identity.publicKey);
  // The sender backs off on its side until the retry-after it was given; then 20 at once pass,
  // where the default level would let one or two through.
  await new Promise((r) => setTimeout(r, (err.details!.retryAfter as number) + 20));
  const start = Date.now();
  for (let i = 0; i < 20; i++) await s.send(`after ${i}`, { type: 'discovery' });
  await s.send('done', { type: 'task' });
  while (!got.includes('done')) await new Promise((r) => setTimeout(r, 10));
  expect(Date.now() - start).toBeLessThan(1_000);
  expect(got.filter((m) => m.startsWith('after'))).toHaveLength(20);
  expect(got.filter((m) => m.startsWith('before'))).toHaveLength(5);
});

it('RATE_LIMITED for chunked messages (class chunk, counted once per message)', async () => {
  const limited = await Peer.create({ entityId: 'tight', rateLimits: { classes: { chunk: { perMinute: 1, burst: 2 } } } });
  cleanup.push(limited);
  const p = (await limited.listen()).port;
  const sender = await Peer.create({ entityId: 'bulk' });
  cleanup.push(sender);
  const s = await sender.connect({ host: '127.0.0.1', port: p });
  const got: number[] = [];
  limited.on('message', (m: Message) => got.push(m.size));
  const rejected = new Promise<PeerError>((r) => s.once('rejected', r));
  for (let i = 0; i < 3; i++) await s.send(Buffer.alloc(200_000, i)); // 4 chunks each, one charge each
  expect(await rejected).toMatchObject({ code: 'RATE_LIMITED', details: { rateClass: 'chunk', seq: 2 } });
  await new Promise((r) => setTimeout(r, 50));
  expect(got).toEqual([200_000, 200_000]);
  await expect(s.send(Buffer.alloc(100_000))).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  await s.send('small messages are another class');
});

it('RATE_LIMITED for handshakes from one address (burst 10), before any handshake crypto', async () => {
  const codes: string[] = [];
  let acks = 0;
  for (let i = 0; i < 12; i++) {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.9' });
    await new Promise((r) => socket.once('connect', r));
    socket.write(wire.encodeFrame(Handshake.initiate({ identity: Identity.generate(), entityId: 'h' }, Date.now()).send[0]!));
    const body = await new Promise<Uint8Array>((r) => socket.once('data', (c: Buffer) => r(new wire.Deframer().push(c)[0]!)));
    if (body[1] === wire.FrameType.HandshakeInitAck) acks++;
    else codes.push((decodeHandshakeMessage(body) as { code: string }).code);
    socket.destroy();
  }
  expect(acks).toBe(10);
  expect(codes).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
  expect(server.stats().listener.handshakesRateLimited).toBe(2);
  await stillServing();
});
