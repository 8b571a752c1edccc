/**
 * Issue 12 item 5 over TCP: a handle reconnects after the remote restarts (same port) and later
 * messages arrive in order; a refused address is UNREACHABLE, not a session that died.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, PeerError } from '../../src/index.js';

const cleanup: (() => Promise<void>)[] = [];
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
