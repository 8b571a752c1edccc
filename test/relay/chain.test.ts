/**
 * Chains of relays, each relay and the target in a process of its own: B (no listener,
 * reserved on r3) is reached through r1 → r2 → r3; a capture in front of every relay holds no
 * plaintext; a loop and a path longer than the hop budget are refused, naming the hop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, Peer, PeerError } from '../../src/index.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { NodeProcess } from './helpers/node.js';

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

let relays: NodeProcess[];
let addrs: string[];
let proxies: TcpProxy[];
let viaProxies: string[];
let bKey: Buffer;

beforeAll(async () => {
  relays = await Promise.all([0, 1, 2].map(() => NodeProcess.start({ relay: { host: '127.0.0.1', chain: true } })));
  cleanup.push(...relays.map((r) => () => r.kill()));
  addrs = await Promise.all(relays.map((r) => r.relayAddress()));
  // A recorder in front of every relay: the path names the recorders, so every hop's bytes pass one.
  proxies = await Promise.all(addrs.map((a) => TcpProxy.start(Number(a.split(':')[1]))));
  cleanup.push(...proxies.map((p) => () => p.close()));
  viaProxies = proxies.map((p) => `127.0.0.1:${p.port}`);
  const b = await NodeProcess.start({ reserve: { relays: [addrs[2]] }, rateLimits: { classes: { task: 'unlimited' } } });
  cleanup.push(() => b.kill());
  bKey = Buffer.from((await b.info()).publicKey, 'hex');
  await b.ready(1);
}, 60_000);

describe('chains of relays (separate processes)', () => {
  it('reaches B through three relays; no relay sees a plaintext byte', async () => {
    const a = await Peer.create({ rateLimits: { classes: { task: 'unlimited' } } });
    cleanup.push(() => a.close());
    const session = await a.connectVia(viaProxies, bKey);
    expect(a.routeOf(session)).toEqual({ path: 'relay', via: viaProxies });
    const echoed: string[] = [];
    session.on('message', (m) => echoed.push(Buffer.from(m.payload).toString()));
    const random = Buffer.from(Identity.generate().sign(Buffer.from('y')));
    await session.send(Buffer.concat(Array.from({ length: 1024 }, () => random)), { type: 'task', ack: true });
    await Promise.all(Array.from({ length: 20 }, (_, i) => session.send(`echo:SECRET-${i}`, { type: 'task', ack: true })));
    for (let i = 0; i < 100 && echoed.length < 20; i++) await new Promise((r) => setTimeout(r, 50));
    expect(echoed).toHaveLength(20);
    await session.close();
    for (const p of proxies) {
      const captured = Buffer.concat([p.bytes('toServer'), p.bytes('toClient')]);
      expect(captured.length).toBeGreaterThan(64 * 1024);
      expect(captured.includes(Buffer.from('SECRET'))).toBe(false);
      for (let i = 0; i + 12 <= random.length; i += 4) expect(captured.includes(random.subarray(i, i + 12))).toBe(false);
    }
    for (const r of relays) expect((await r.stats()).relay!.bytesRelayed).toBeGreaterThan(64 * 1024);
  });

  it('refuses a loop and names the hop that saw it', async () => {
    const a = await Peer.create({});
    cleanup.push(() => a.close());
    // r1 → r2 → r1: r2 finds r1's key already on the path (hop 2).
    const loop = (await a.connectVia([addrs[0]!, addrs[1]!, addrs[0]!], bKey).catch((e: unknown) => e)) as PeerError;
    expect(loop).toBeInstanceOf(PeerError);
    expect(loop.details).toMatchObject({ relayStatus: 'LOOP', hop: 2, relay: addrs[1] });
    // r1 → r1: r1 dials itself (hop 1).
    const self = (await a.connectVia([addrs[0]!, addrs[0]!], bKey).catch((e: unknown) => e)) as PeerError;
    expect(self.details).toMatchObject({ relayStatus: 'LOOP', hop: 1 });
    // The target reserved on r3, not r2: r2 (hop 2) has no reservation for it.
    const wrong = (await a.connectVia([addrs[0]!, addrs[1]!], bKey).catch((e: unknown) => e)) as PeerError;
    expect(wrong.details).toMatchObject({ relayStatus: 'NO_RESERVATION', hop: 2, relay: addrs[1] });
    await expect(a.connectVia([addrs[0]!, addrs[1]!, addrs[2]!, addrs[0]!], bKey)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const r of relays) expect(r.alive).toBe(true);
  });
});
