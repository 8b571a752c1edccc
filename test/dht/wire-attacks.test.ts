/**
 * Issue 11, bounded work for unverified sources, over UDP on 127.x.y.z (and the core by hand for
 * timing in virtual time): amplification to a spoofable source, a limiter keyed by ip:port,
 * routing-table updates before the limit, and lookups stretched by made-up contacts and slow
 * answers. Each fails on the DHT of issue 5.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import { DhtCore } from '../../src/dht/core.js';
import { decodeMessage, encodeFind, encodeNodes, encodePing, encodeStore, HEADER_BYTES, MSG, WIRE_ERROR } from '../../src/dht/messages.js';
import { encodePongFor } from './pong.js';
import { DhtNode } from '../../src/dht/node.js';
import { SeededRandom } from '../../src/dht/random.js';
import { recordKey } from '../../src/dht/record.js';
import { selfCertifyingName } from '../../src/dht/binding.js';
import { T0 } from './helpers.js';
import type { OpResult } from '../../src/dht/operations.js';

const nodes: DhtNode[] = [];
const sockets: dgram.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(nodes.map((n) => n.close()));
});

/** A 71-byte request as issue 5's nodes sent it (no padding): header, then the 32-byte target. */
function bareFind(type: number, tid: number, pk: Uint8Array, target: Uint8Array): Buffer {
  const b = Buffer.alloc(HEADER_BYTES + 32);
  b[0] = 0xd1; b[1] = type; b.writeUInt32BE(tid, 3);
  Buffer.from(pk).copy(b, 7);
  Buffer.from(target).copy(b, HEADER_BYTES);
  return b;
}

async function socketAt(host: string): Promise<{ s: dgram.Socket; answers: Buffer[] }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  const answers: Buffer[] = [];
  s.on('message', (m) => answers.push(m));
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return { s, answers };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
/** Waits until `done()` (the answers expected have all arrived; a loaded machine is slow) or 30 s, then settle(). */
async function until(done: () => boolean): Promise<void> {
  for (const end = Date.now() + 30_000; !done() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
  await settle();
}
const replies = (answers: Buffer[]): number => answers.filter((a) => a[1] !== MSG.PING).length;
let victim: DhtNode;
const owner = Identity.generate();
const name = selfCertifyingName(owner.publicKey);

beforeAll(async () => {
  victim = new DhtNode();
  await victim.start({ host: '127.0.40.1' });
  nodes.push(victim);
  // 30 nodes on their own /24s fill the victim's table; one publishes a record.
  for (let i = 0; i < 30; i++) {
    const n = new DhtNode(i === 0 ? { identity: owner } : {});
    await n.start({ host: `127.0.${100 + i}.1`, bootstrap: [victim.address] });
    nodes.push(n);
  }
  await nodes[1]!.publish({ entityId: name, addresses: ['127.0.101.1:7000'], capabilities: ['summarize'] }, owner);
}, 60_000);

describe('amplification and the rate limit, over UDP', () => {
  it('answers a bare (unpadded) FIND_NODE or FIND_VALUE with at most 3× its size', async () => {
    const { s, answers } = await socketAt('127.0.41.1');
    const pk = Identity.generate().publicKey;
    const [host, port] = [victim.address.split(':')[0]!, Number(victim.address.split(':')[1])];
    s.send(bareFind(MSG.FIND_NODE, 1, pk, Identity.generate().publicKey), port, host);
    s.send(bareFind(MSG.FIND_VALUE, 2, pk, recordKey(name)), port, host);
    await until(() => replies(answers) >= 2);
    // Two answers, and one PING asking the unknown sender to prove its id: 3 × 2 × 71 bytes in all.
    expect(answers.filter((a) => a[1] !== MSG.PING)).toHaveLength(2);
    expect(answers.reduce((n, a) => n + a.length, 0)).toBeLessThanOrEqual(3 * 2 * 71);
    for (const a of answers) expect(a.length).toBeLessThanOrEqual(3 * 71);
    // A padded request (what nodes send) gets the full answer.
    expect(victim.stats().contacts).toBeGreaterThanOrEqual(20);
    const full = await nodes[5]!.findNode(Identity.generate().publicKey);
    expect(full.length).toBeGreaterThanOrEqual(20);
  });

  it('a flood from 40 sources that never answer gets at most 3× its bytes back, the proving PINGs included', async () => {
    const [host, port] = [victim.address.split(':')[0]!, Number(victim.address.split(':')[1])];
    const flood = await Promise.all(Array.from({ length: 40 }, (_, i) => socketAt(`127.0.44.${i + 1}`)));
    let sent = 0;
    const send = (s: dgram.Socket, d: Uint8Array): void => {
      sent += d.length;
      s.send(d, port, host);
    };
    flood.forEach(({ s }, i) => {
      const pk = Identity.generate().publicKey;
      for (let j = 0; j < 2; j++) {
        send(s, encodePing(0, i * 100 + j, pk, Identity.generate().publicKey.subarray(0, 16)));
        send(s, bareFind(MSG.FIND_NODE, i * 100 + 10 + j, pk, Identity.generate().publicKey));
        send(s, bareFind(MSG.FIND_VALUE, i * 100 + 20 + j, pk, recordKey(name)));
      }
      send(s, encodeFind(MSG.FIND_VALUE, 0, i * 100 + 30, pk, recordKey(name)));
      send(s, encodeStore(0, i * 100 + 40, pk, new Uint8Array(16), recordKey(name), new Uint8Array(200).fill(1)));
    });
    await settle();
    const back = flood.reduce((n, { answers }) => n + answers.reduce((m, a) => m + a.length, 0), 0);
    const pings = flood.reduce((n, { answers }) => n + answers.filter((a) => a[1] === MSG.PING).length, 0);
    console.log(`spoofed-source flood: ${sent} bytes in, ${back} bytes out (${(back / sent).toFixed(2)}×), ${pings} proving PINGs among them`);
    expect(pings).toBeGreaterThan(0);
    expect(back).toBeLessThanOrEqual(3 * sent);
    for (const { answers } of flood) expect(answers.reduce((m, a) => m + a.length, 0)).toBeLessThanOrEqual(3 * (sent / flood.length));
    // None of them entered the table.
    expect(victim.dht.contacts().filter((c) => c.address.startsWith('127.0.44.'))).toHaveLength(0);
  });

  it('counts a source by its address, not its port: 30 ports of one host share one burst', async () => {
    const [host, port] = [victim.address.split(':')[0]!, Number(victim.address.split(':')[1])];
    const socks = await Promise.all(Array.from({ length: 30 }, () => socketAt('127.0.42.1')));
    const before = victim.stats().contacts;
    socks.forEach(({ s }, i) => s.send(bareFind(MSG.FIND_NODE, i, Identity.generate().publicKey, Identity.generate().publicKey), port, host));
    await until(() => socks.every(({ answers }) => replies(answers) >= 1));
    const types = socks.flatMap(({ answers }) => answers.map((a) => decodeMessage(a)));
    expect(types.filter((m) => m.type === MSG.NODES).length).toBeLessThanOrEqual(20);
    expect(types.filter((m) => m.type === MSG.ERROR && m.code === WIRE_ERROR.RATE_LIMITED).length).toBeGreaterThanOrEqual(10);
    // The refused requests' senders (fresh ids) never reached the routing table.
    expect(victim.stats().contacts - before).toBeLessThanOrEqual(20);
    const more = await socketAt('127.0.42.1');
    const added = victim.stats().contacts;
    for (let i = 0; i < 10; i++) more.s.send(bareFind(MSG.FIND_NODE, 100 + i, Identity.generate().publicKey, Identity.generate().publicKey), port, host);
    await until(() => replies(more.answers) >= 10);
    expect(victim.stats().contacts).toBe(added);
  });
});

describe('lookups cannot be stretched', () => {
  const rnd = new SeededRandom(11);

  it('made-up contacts in one answer cost at most maxCandidatesPerAnswer requests, and the lookup ends by its deadline', () => {
    const core = new DhtCore({ identity: Identity.fromSeed(rnd.bytes(32)), now: T0, random: rnd, rateLimiter: null });
    const liarKey = Identity.fromSeed(rnd.bytes(32));
    const liar = liarKey.publicKey;
    let now = T0;
    const asked = new Set<string>();
    // The liar answers every FIND_NODE with 20 made-up contacts at addresses that never answer.
    const drive = (op: number): OpResult | null => {
      let out = core.drain();
      for (let step = 0; step < 10_000; step++) {
        for (const d of out.datagrams) {
          const m = decodeMessage(d.data);
          if (d.to !== '127.0.50.1:1') { asked.add(d.to); continue; }
          if (m.type === MSG.PING) {
            const r = core.receive(encodePongFor(liarKey, m, encodeAddress('127.0.50.9:9')), '127.0.50.1:1', now + 10);
            out.datagrams.push(...r.datagrams);
            out.events.push(...r.events);
          }
          if (m.type !== MSG.FIND_NODE) continue;
          const block = Buffer.concat(Array.from({ length: 20 }, (_, i) => Buffer.concat([rnd.bytes(32), encodeAddress(`127.0.${60 + i}.1:9`)])));
          const r = core.receive(encodeNodes(0, m.tid, liar, null, 20, block), '127.0.50.1:1', now + 10);
          out.datagrams.push(...r.datagrams);
          out.events.push(...r.events);
        }
        const hit = out.events.map((e) => e.result).find((r) => r.op === op);
        if (hit) return hit;
        now = Math.max(now + 1, out.deadline);
        out = core.tick(now);
      }
      return null;
    };
    expect(drive(core.bootstrap(['127.0.50.1:1'], now))).not.toBeNull();
    asked.clear();
    const result = drive(core.findNode(rnd.bytes(32), now));
    expect(result).not.toBeNull();
    // The liar's one answer adds at most maxCandidatesPerAnswer made-up contacts.
    expect(asked.size).toBeGreaterThan(0);
    expect(asked.size).toBeLessThanOrEqual(core.config.maxCandidatesPerAnswer);
    expect(result!.finishedAt - result!.startedAt).toBeLessThanOrEqual(core.config.opDeadlineMs + core.config.rtoMaxMs);
  });

  it('an unmeasured contact gets a timeout from the median RTT, so a few slow answers do not stretch it', () => {
    const core = new DhtCore({ identity: Identity.fromSeed(rnd.bytes(32)), now: T0, random: rnd, rateLimiter: null });
    const key = Identity.fromSeed(rnd.bytes(32));
    let now = T0;
    for (let i = 0; i < 32; i++) {
      core.ping(`127.0.70.${i + 1}:1`, now);
      const [d] = core.drain().datagrams;
      const m = decodeMessage(d!.data);
      // 24 answer in 50 ms, 8 (the slow or malicious) in 4 s.
      const rtt = i % 4 === 3 ? 4000 : 50;
      now += rtt;
      core.receive(encodePongFor(key, m, encodeAddress('127.0.0.9:9')), d!.to, now);
    }
    expect(core.rto(null)).toBeLessThanOrEqual(200);
  });
});
