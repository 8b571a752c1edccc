/**
 * Issue 14 over real TCP, relays and the target in separate processes: B has no listener at all
 * (no reachable address) and is reached by entity id through the relays listed in its signed
 * DHT record; a capture of every byte at a relay's port holds no plaintext; pinning catches a
 * relay that substitutes keys; a relay killed mid-transfer is replaced by the other listed one
 * and nothing sent with ack: true is lost.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, Peer, PeerError } from '../../src/index.js';
import { encodeHello, encodeStatus, readControl, RelayStatus } from '../../src/relay/index.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { NodeProcess } from './helpers/node.js';

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

let seed: Peer;
let r1: NodeProcess;
let r2: NodeProcess;
let b: NodeProcess;
let bId: string;
let bKey: Buffer;
let relays: string[];

beforeAll(async () => {
  seed = await Peer.create({ entityId: 'seed', dht: { host: '127.0.41.1' } });
  cleanup.push(() => seed.close());
  const boot = [seed.dht!.address];
  [r1, r2] = await Promise.all([
    NodeProcess.start({ relay: { host: '127.0.0.1' }, bootstrap: boot, dht: { host: '127.0.42.1' } }),
    NodeProcess.start({ relay: { host: '127.0.0.1' }, bootstrap: boot, dht: { host: '127.0.43.1' } }),
  ]);
  cleanup.push(() => r1.kill(), () => r2.kill());
  relays = [await r1.relayAddress(), await r2.relayAddress()];
  // B: no listener at all, so its record lists no address; only its relays.
  b = await NodeProcess.start({ reserve: { relays }, bootstrap: boot, dht: { host: '127.0.44.1' }, rateLimits: { classes: { task: 'unlimited' } } });
  cleanup.push(() => b.kill());
  const info = await b.info();
  bId = info.entityId;
  bKey = Buffer.from(info.publicKey, 'hex');
  const { listed } = await b.ready(2);
  expect(listed.map((r) => r.address).sort()).toEqual([...relays].sort());
}, 60_000);

async function sender(host: string): Promise<Peer> {
  const a = await Peer.create({ bootstrap: [seed.dht!.address], dht: { host }, rateLimits: { classes: { task: 'unlimited' } } });
  cleanup.push(() => a.close());
  // B republishes once its reservations are held: wait until the record lists both relays.
  for (let i = 0; i < 100; i++) {
    const rec = await a.lookup(bId).catch(() => null);
    if (rec !== null && rec.relays.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return a;
}

const id = (i: number): string => i.toString(16).padStart(32, '0');

describe('relayed circuits (separate processes)', () => {
  it('connect(entityId) reaches B, which has no address, through a relay its record lists, and says so', async () => {
    const a = await sender('127.0.45.1');
    const record = await a.lookup(bId);
    expect(record.addresses).toEqual([]);
    expect(record.relays.every((r) => r.expiresAt > Date.now() && r.expiresAt <= Date.now() + record.ttl * 1000 + 5000)).toBe(true);
    const routes: string[] = [];
    a.on('route', (r) => routes.push(r.path));
    const session = await a.connect(bId);
    expect(Buffer.from(session.remote!.publicKey).equals(bKey)).toBe(true);
    expect(a.routeOf(session).path).toBe('relay');
    expect(relays).toContain(a.routeOf(session).via[0]);
    expect(routes).toEqual(['relay']);
    const echoed: string[] = [];
    session.on('message', (m) => echoed.push(Buffer.from(m.payload).toString()));
    await Promise.all(Array.from({ length: 50 }, (_, i) => session.send(`echo:${i}`, { type: 'task', ack: true })));
    for (let i = 0; i < 100 && echoed.length < 50; i++) await new Promise((r) => setTimeout(r, 50));
    expect(echoed.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `echo:${i}`).sort());
    await session.close();
  });

  it('a capture of every byte at the relay port holds no plaintext: no payload window, no message id', async () => {
    const a = await sender('127.0.46.1');
    const proxy = await TcpProxy.start(Number(relays[0]!.split(':')[1]));
    cleanup.push(() => proxy.close());
    const session = await a.connectVia([`127.0.0.1:${proxy.port}`], bKey);
    const random = Buffer.from(Identity.generate().sign(Buffer.from('x'))); // 64 unpredictable bytes
    const big = Buffer.concat(Array.from({ length: 2048 }, () => random)); // 128 KiB: chunked
    const canary = Buffer.from('PLAINTEXT-CANARY-'.repeat(8));
    const ids = Array.from({ length: 20 }, (_, i) => `c0ffee${id(i).slice(6)}`);
    await Promise.all(ids.map((x, i) => session.send(i === 0 ? big : Buffer.concat([Buffer.from('echo:'), canary.subarray(0, 40)]), { type: 'task', ack: true, id: x })));
    await new Promise((r) => setTimeout(r, 300));
    await session.close();
    const captured = Buffer.concat([proxy.bytes('toServer'), proxy.bytes('toClient')]);
    expect(captured.length).toBeGreaterThan(big.length);
    expect(captured.includes(Buffer.from('CANARY'))).toBe(false);
    for (const x of ids) expect(captured.includes(Buffer.from(x, 'hex'))).toBe(false);
    // No 12-byte window of the unpredictable payload appears anywhere in the capture.
    const windows = new Set<string>();
    for (let i = 0; i + 12 <= random.length; i++) windows.add(random.subarray(i, i + 12).toString('hex'));
    let hits = 0;
    for (let i = 0; i + 12 <= captured.length; i++) if (windows.has(captured.subarray(i, i + 12).toString('hex'))) hits++;
    expect(hits).toBe(0);
  });

  it('pinning catches a relay that answers with a key of its own (it runs the handshake itself)', async () => {
    const impostor = await Peer.create({ entityId: bId });
    cleanup.push(() => impostor.close());
    const evilSockets = new Set<net.Socket>();
    const evil = net.createServer((s) => {
      evilSockets.add(s);
      s.on('error', () => undefined);
      s.write(encodeHello({ relayKey: impostor.identity.publicKey, challenge: Buffer.alloc(32) }));
      void readControl(s, 5000).then(() => {
        s.write(encodeStatus({ code: RelayStatus.OK, hop: 1 }));
        const p = impostor.connectStream(s, 'responder');
        s.resume();
        return p;
      }).catch(() => s.destroy());
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => {
      evilSockets.forEach((s) => s.destroy());
      evil.close(r);
    }));
    const evilAddr = `127.0.0.1:${(evil.address() as net.AddressInfo).port}`;
    // Pinned in the trust store: the handshake itself refuses the substituted key.
    const pinned = await Peer.create({ trust: [[bId, bKey]], acceptUnknown: false });
    cleanup.push(() => pinned.close());
    const err = await pinned.connectVia([evilAddr], bKey).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe('INVALID_SIGNATURE');
    // Not pinned: the key the circuit was opened for is checked after the handshake.
    const loose = await Peer.create({});
    cleanup.push(() => loose.close());
    await expect(loose.connectVia([evilAddr], bKey)).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(pinned.stats().sessions + loose.stats().sessions).toBe(0);
  });

  it('a relay SIGKILLed mid-transfer is replaced by the other listed relay; every ack: true send arrives', async () => {
    const a = await sender('127.0.47.1');
    const handle = a.to(bId, { minDelayMs: 50, maxDelayMs: 500 });
    cleanup.push(() => handle.close());
    let disconnects = 0;
    handle.on('disconnected', () => disconnects++);
    const first = await handle.ready();
    const firstRelay = a.routeOf(first).via[0]!;
    const victim = firstRelay === relays[0] ? r1 : r2;
    const N = 600;
    let acked = 0;
    let ackedAtKill = -1;
    let resent = 0;
    let killed: Promise<void> | null = null;
    const sendOne = async (i: number): Promise<void> => {
      for (;;) {
        try {
          await handle.send(Buffer.concat([Buffer.from(id(i)), Buffer.alloc(16_384, i & 0xff)]), { type: 'task', ack: true, id: id(i) });
          // The 100th acknowledgement kills the relay, while the other sends are in flight.
          if (++acked === 100) {
            ackedAtKill = acked;
            killed = victim.kill();
          }
          return;
        } catch (err) {
          // Handed to the session the relay's death ended: re-sent by id on the next one.
          if (!(err instanceof PeerError) || !['SESSION_CLOSED', 'INVALID_STATE'].includes(err.code)) throw err;
          resent++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const sends = Array.from({ length: N }, (_, i) => sendOne(i));
    await Promise.all(sends);
    await killed;
    expect(acked).toBe(N);
    const now = handle.session!;
    expect(a.routeOf(now).path).toBe('relay');
    expect(a.routeOf(now).via[0]).not.toBe(firstRelay);
    const got = new Set((await b.received()).map((t) => t.slice(0, 32)));
    const missing = Array.from({ length: N }, (_, i) => id(i)).filter((x) => !got.has(x));
    expect(missing).toEqual([]);
    // The kill came mid-transfer and ended the session; the handle went on through the other relay.
    expect(victim.alive).toBe(false);
    expect(ackedAtKill).toBe(100);
    expect(disconnects).toBeGreaterThanOrEqual(1);
    console.log(`relay killed after ${ackedAtKill} of ${N} acks; ${resent} sends re-sent by id; all ${N} arrived`);
  });
});
