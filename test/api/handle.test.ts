/**
 * Issue 12 item 5 over TCP: a handle reconnects after the remote restarts (same port) and later
 * messages arrive in order; a refused address is UNREACHABLE, not a session that died.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, PeerError } from '../../src/index.js';
import { Victim } from '../helpers/victim.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function remote(port = 0): Promise<{ peer: Peer; port: number; got: string[] }> {
  const peer = await Peer.create({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } } });
  const got: string[] = [];
  peer.on('message', (m) => void got.push(Buffer.from(m.payload as Uint8Array).toString()));
  const addr = await peer.listen({ host: '127.0.0.1', port });
  cleanup.push(() => peer.close());
  return { peer, port: addr.port, got };
}

describe('peer.to(): a reconnecting handle', () => {
  it('reconnects after the remote restarts; messages sent through it arrive in order', async () => {
    const first = await remote();
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    const handle = client.to(`127.0.0.1:${first.port}`, { minDelayMs: 20, maxDelayMs: 200 });
    const retries: string[] = [];
    handle.on('retry', (r) => void retries.push(r.error.code));
    for (let i = 0; i < 100; i++) await handle.send(`a${i}`, { ack: true });
    expect(first.got).toEqual(Array.from({ length: 100 }, (_, i) => `a${i}`));
    const down = new Promise((r) => handle.once('disconnected', r));
    await first.peer.close();
    await down;
    // Sent while the remote is down: they wait for the next session, in call order.
    const later = Array.from({ length: 100 }, (_, i) => handle.send(`b${i}`, { ack: true }));
    await new Promise((r) => setTimeout(r, 300));
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((c) => c === 'UNREACHABLE')).toBe(true);
    const second = await remote(first.port);
    expect(await Promise.all(later)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(second.got).toEqual(Array.from({ length: 100 }, (_, i) => `b${i}`));
    await handle.close();
  });

  it('ack: true sends and requests whose session ended unsettled are issued again on the next one, same ids, in call order, before later sends', async () => {
    // The first remote takes every message but accepts none, then shuts down.
    const first = await Peer.create({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } }, session: { manualAck: true } });
    const firstIds: string[] = [];
    first.on('message', (m) => void (m.version === '1.1' && firstIds.push(m.id!)));
    first.on('request', (req) => void firstIds.push(req.id)); // never answered
    const { port } = await first.listen({ host: '127.0.0.1', port: 0 });
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    const handle = client.to(`127.0.0.1:${port}`, { minDelayMs: 20, maxDelayMs: 200 });
    const calls = Array.from({ length: 60 }, (_, i) =>
      i % 4 === 3 ? handle.request(`a${i}`, { type: 'task', timeout: 60_000 }).then((r) => Buffer.from(r.payload).toString()) : handle.send(`a${i}`, { type: 'task', ack: true }));
    while (firstIds.length < 60) await new Promise((r) => setTimeout(r, 10));
    const down = new Promise((r) => handle.once('disconnected', r));
    await first.close();
    await down;
    const later = handle.send('b0', { type: 'task', ack: true }); // made after: must arrive after every re-sent one
    const second = await Peer.create({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } } });
    cleanup.push(() => second.close());
    const got: string[] = [];
    const secondIds: string[] = [];
    second.on('message', (m) => {
      if (m.version !== '1.1') return;
      got.push(Buffer.from(m.payload).toString());
      secondIds.push(m.id!);
    });
    second.on('request', (req) => {
      got.push(Buffer.from(req.payload).toString());
      secondIds.push(req.id);
      void req.reply(`re:${Buffer.from(req.payload).toString()}`);
    });
    await second.listen({ host: '127.0.0.1', port });
    const results = await Promise.all(calls);
    results.forEach((r, i) => (i % 4 === 3 ? expect(r).toBe(`re:a${i}`) : expect(r).toBe(i))); // numbered on the new session
    await later;
    expect(got).toEqual([...Array.from({ length: 60 }, (_, i) => `a${i}`), 'b0']);
    expect(secondIds.slice(0, 60)).toEqual(firstIds); // the same ids: a receiver can drop duplicates
    await handle.close();
  });

  it('kill -9 of the remote mid-traffic, a new remote on its port: every ack: true send through the handle is delivered, in order, ids intact', async () => {
    const victim = await Victim.start({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } }, session: { manualAck: true } });
    cleanup.push(() => victim.kill());
    const port = await victim.listen();
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    const handle = client.to(`127.0.0.1:${port}`, { minDelayMs: 20, maxDelayMs: 200 });
    await handle.ready();
    const ids = Array.from({ length: 300 }, (_, i) => i.toString(16).padStart(32, '0'));
    const sends = ids.map((id, i) => handle.send(`m${i}`, { type: 'task', ack: true, id }));
    await new Promise((r) => setTimeout(r, 100));
    await victim.kill(); // SIGKILL: nothing acknowledged, some or all delivered
    const restarted = await Peer.create({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } } });
    cleanup.push(() => restarted.close());
    const got: string[] = [];
    const gotIds: string[] = [];
    restarted.on('message', (m) => {
      if (m.version !== '1.1') return;
      got.push(Buffer.from(m.payload).toString());
      gotIds.push(m.id!);
    });
    await restarted.listen({ host: '127.0.0.1', port });
    await Promise.all(sends);
    expect(got).toEqual(ids.map((_, i) => `m${i}`));
    expect(gotIds).toEqual(ids);
    await handle.send('after', { type: 'task', ack: true });
    expect(got.at(-1)).toBe('after');
    await handle.close();
  });

  it('resend: false rejects them with SESSION_CLOSED and their id; close() rejects what waits with its id', async () => {
    const first = await Peer.create({ entityId: 'remote', session: { manualAck: true } });
    let seen = 0;
    first.on('message', () => void seen++);
    const { port } = await first.listen({ host: '127.0.0.1', port: 0 });
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    const handle = client.to(`127.0.0.1:${port}`, { minDelayMs: 20, maxDelayMs: 100, resend: false });
    const id = 'ab'.repeat(16);
    const sent = handle.send('x', { ack: true, id }).catch((e: PeerError) => e);
    while (seen === 0) await new Promise((r) => setTimeout(r, 10));
    await first.close();
    const err = await sent;
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe('SESSION_CLOSED');
    expect((err as PeerError).details?.id).toBe(id);
    const waiting = handle.send('y', { ack: true, id: 'cd'.repeat(16) }).catch((e: PeerError) => e);
    await handle.close();
    expect(((await waiting) as PeerError).details?.id).toBe('cd'.repeat(16));
  });

  it('a refused address is UNREACHABLE (was SESSION_NOT_FOUND)', async () => {
    const gone = await Peer.create({});
    const { port } = await gone.listen();
    await gone.close();
    const client = await Peer.create({});
    cleanup.push(() => client.close());
    const err = await client.connect(`127.0.0.1:${port}`).catch((e: PeerError) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe('UNREACHABLE');
    expect((err as PeerError).details?.errno).toBe('ECONNREFUSED');
  });
});
