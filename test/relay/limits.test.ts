/**
 * Relay limits under attack, the relay in a child process (a crash would show as its exit):
 * a stranger without a reservation gets nothing relayed; one peer cannot pass its caps
 * (reservations and circuits per address prefix, bytes per circuit); a circuit flood from many
 * prefixes leaves reserved peers served. Attackers speak the raw control protocol from their
 * own 127.x addresses.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, Peer, PeerError } from '../../src/index.js';
import {
  RELAY_STATUS_NAMES, RelayType, encodeAccept, encodeConnect, encodeReserve, readControl, reserveSigned,
} from '../../src/relay/index.js';
import { NodeProcess } from './helpers/node.js';

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const LIMITS = {
  host: '127.0.0.1', maxReservationsPerPrefix: 3, maxCircuitsPerPrefix: 3, maxCircuitsPerTarget: 8, maxCircuits: 96,
  maxCircuitBytes: 256 * 1024, controlTimeoutMs: 2000, circuitPerMinute: 600, circuitBurst: 600,
};
let relay: NodeProcess;
let relayAddr: string;
let relayPort: number;

beforeAll(async () => {
  relay = await NodeProcess.start({ relay: LIMITS });
  cleanup.push(() => relay.kill());
  relayAddr = await relay.relayAddress();
  relayPort = Number(relayAddr.split(':')[1]);
});

/** A raw connection to the relay from `localAddress`, after its HELLO. */
async function dial(localAddress: string): Promise<{ s: net.Socket; challenge: Uint8Array; relayKey: Uint8Array }> {
  const s = net.connect({ host: '127.0.0.1', port: relayPort, localAddress });
  s.on('error', () => undefined);
  cleanup.push(() => s.destroy());
  const hello = await readControl(s, 5000);
  if (hello.type !== RelayType.HELLO) throw new Error('no hello');
  return { s, challenge: hello.challenge, relayKey: hello.relayKey };
}

/** The relay's answer as a status name ('RESERVE_OK' for a granted reservation, 'CLOSED' if it just closed). */
async function answer(s: net.Socket): Promise<string> {
  try {
    const m = await readControl(s, 8000);
    if (m.type === RelayType.STATUS) return `${RELAY_STATUS_NAMES[m.code]}@${m.hop}`;
    return m.type === RelayType.RESERVE_OK ? 'RESERVE_OK' : `type ${m.type}`;
  } catch {
    return 'CLOSED';
  }
}

async function reserveRaw(identity: Identity, localAddress: string, badSignature = false): Promise<string> {
  const { s, challenge, relayKey } = await dial(localAddress);
  const signature = identity.sign(reserveSigned(relayKey, challenge, 60));
  if (badSignature) signature[0]! ^= 1;
  s.write(encodeReserve({ key: identity.publicKey, ttlS: 60, signature }));
  return answer(s);
}

async function circuitRaw(target: Uint8Array, localAddress: string): Promise<{ s: net.Socket; status: Promise<string> }> {
  const { s } = await dial(localAddress);
  s.write(encodeConnect({ target, hopBudget: 1, visited: [], next: [] }));
  return { s, status: answer(s) };
}

async function reservedPeer(entityId: string): Promise<Peer> {
  const p = await Peer.create({ entityId, reserve: { relays: [relayAddr] }, rateLimits: { classes: { task: 'unlimited' } } });
  cleanup.push(() => p.close());
  await p.relayReservations!.ready(1);
  return p;
}

describe('relay limits (relay in a child process)', () => {
  it('a stranger without a reservation gets nothing relayed, whatever it sends', async () => {
    const a = await Peer.create({});
    cleanup.push(() => a.close());
    const err = (await a.connectVia([relayAddr], Identity.generate().publicKey).catch((e: unknown) => e)) as PeerError;
    expect(err).toBeInstanceOf(PeerError);
    expect(err.code).toBe('UNREACHABLE');
    expect(err.details).toMatchObject({ relayStatus: 'NO_RESERVATION', hop: 1, relay: relayAddr });
    // A guessed token, a bad reserve signature, a chain request, garbage, an oversized length.
    const { s } = await dial('127.0.50.1');
    s.write(encodeAccept(new Uint8Array(16)));
    expect(await answer(s)).toBe('BAD_TOKEN@1');
    expect(await reserveRaw(Identity.generate(), '127.0.50.2', true)).toBe('BAD_SIGNATURE@1');
    const chain = await dial('127.0.50.3');
    chain.s.write(encodeConnect({ target: new Uint8Array(32), hopBudget: 2, visited: [], next: ['127.0.0.1:1'] }));
    expect(await answer(chain.s)).toBe('CHAIN_DISABLED@1');
    // Hop budget: above 3, or fewer hops left than relays named, is refused before any dial.
    for (const [hopBudget, next] of [[4, []], [1, ['127.0.0.1:1']], [0, []]] as const) {
      const h = await dial('127.0.50.6');
      h.s.write(encodeConnect({ target: new Uint8Array(32), hopBudget, visited: [], next: [...next] }));
      expect(await answer(h.s)).toBe('HOP_LIMIT@1');
    }
    const junk = await dial('127.0.50.4');
    junk.s.write(Buffer.from('00000005ff30000000', 'hex'));
    expect(await answer(junk.s)).toBe('MALFORMED@1');
    const huge = await dial('127.0.50.5');
    huge.s.write(Buffer.from('7fffffff', 'hex'));
    expect(await answer(huge.s)).toMatch(/MALFORMED@1|CLOSED/);
    const st = (await relay.stats()).relay!;
    expect(st.bytesRelayed).toBe(0);
    expect(st.circuits).toBe(0);
    expect(st.reservations).toBe(0);
    expect(st.refused).toMatchObject({ NO_RESERVATION: 1, BAD_TOKEN: 1, BAD_SIGNATURE: 1, CHAIN_DISABLED: 1, HOP_LIMIT: 3 });
    expect(relay.alive).toBe(true);
  });

  it('one peer cannot pass its caps: reservations and circuits per prefix, bytes per circuit', async () => {
    // Reservations: 3 per address prefix; another prefix still gets one.
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await reserveRaw(Identity.generate(), '127.0.51.1'));
    expect(results).toEqual(['RESERVE_OK', 'RESERVE_OK', 'RESERVE_OK', 'RESERVATION_LIMIT@1']);
    expect(await reserveRaw(Identity.generate(), '127.0.51.2')).toBe('RESERVE_OK');

    // Circuits: 3 per source prefix, the 4th refused before the target hears of it.
    const b = await reservedPeer('b-caps');
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await circuitRaw(b.identity.publicKey, '127.0.52.1'));
    expect(await held[3]!.status).toBe('CIRCUIT_LIMIT@1');

    // Bytes: a circuit is cut at 256 KiB per direction; the relay forwarded no more.
    const before = (await relay.stats()).relay!;
    const a = await Peer.create({});
    cleanup.push(() => a.close());
    const session = await a.connectVia([relayAddr], b.identity.publicKey);
    const closed = new Promise((r) => session.once('close', r));
    const sent = session.send(Buffer.alloc(1024 * 1024, 7), { type: 'task', ack: true });
    await expect(sent).rejects.toBeInstanceOf(PeerError);
    await closed;
    const after = (await relay.stats()).relay!;
    expect(after.cut.bytes).toBe(before.cut.bytes + 1);
    expect(after.bytesRelayed - before.bytesRelayed).toBeLessThanOrEqual(2 * LIMITS.maxCircuitBytes);
    for (const h of held) h.s.destroy();
    expect(relay.alive).toBe(true);
  });

  it('under a circuit flood from 24 prefixes the relay keeps serving reserved peers (figures)', async () => {
    const b = await reservedPeer('b-flood');
    const c = await reservedPeer('c-served');
    // 24 attacker prefixes x 6 circuit requests each to b, all held open.
    const flood = [];
    for (let p = 0; p < 24; p++) for (let i = 0; i < 6; i++) flood.push(circuitRaw(b.identity.publicKey, `127.0.53.${p + 1}`));
    const attempts = await Promise.all(flood);
    // Meanwhile a reserved peer is reached and exchanges acknowledged messages.
    const a = await Peer.create({ rateLimits: { classes: { task: 'unlimited' } } });
    cleanup.push(() => a.close());
    const session = await a.connectVia([relayAddr], c.identity.publicKey);
    await Promise.all(Array.from({ length: 50 }, (_, i) => session.send(`m${i}`, { type: 'task', ack: true })));
    const statuses = await Promise.all(attempts.map((x) => x.status));
    const tally: Record<string, number> = {};
    for (const st of statuses) tally[st] = (tally[st] ?? 0) + 1;
    const st = (await relay.stats()).relay!;
    console.log(`flood of ${attempts.length} circuit requests from 24 prefixes: ${JSON.stringify(tally)}; served peer: 50/50 acked; relay ${JSON.stringify({ refused: st.refused, circuits: st.circuits, pending: st.pendingCircuits, rssMiB: Math.round((await relay.stats()).rss / 2 ** 20) })}`);
    // Per prefix at most 3 were admitted, per target at most 8: everything else refused, none crashed the relay.
    expect(tally['CIRCUIT_LIMIT@1']).toBeGreaterThanOrEqual(attempts.length - 8);
    expect(st.circuits + st.pendingCircuits).toBeLessThanOrEqual(LIMITS.maxCircuits);
    expect(relay.alive).toBe(true);
    for (const x of attempts) x.s.destroy();
  });
});
