/**
 * DhtCore driven by hand: LRS eviction after a ping, store tokens against spoofed sources,
 * malformed datagrams, the per-source limit, failed lookups, forged values in answers.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { encodeAddress } from '../../src/dht/address.js';
import { DhtCore, type DhtOutput } from '../../src/dht/core.js';
import { commonPrefixLength, nodeIdOf } from '../../src/dht/id.js';
import { Identity } from '../../src/crypto/index.js';
import {
  decodeMessage, encodeFind, encodeNodes, encodePing, encodePong, encodeStore, encodeValue, FLAG_WANT_TOKEN, MSG, WIRE_ERROR,
} from '../../src/dht/messages.js';
import { admit, encodePongFor, pingTo } from './pong.js';
import { proofMessage } from '../../src/dht/proof.js';
import { SeededRandom } from '../../src/dht/random.js';
import { recordKey } from '../../src/dht/record.js';
import type { OpResult } from '../../src/dht/operations.js';
import { record, signer, T0 } from './helpers.js';

const rnd = new SeededRandom(7);
const key = (): Identity => Identity.fromSeed(rnd.bytes(32));
const newCore = (config = {}, limiter?: null): DhtCore => new DhtCore({ identity: key(), now: T0, config, random: rnd, ...(limiter === null ? { rateLimiter: null } : {}) });
const ping = (tid: number, pk: Uint8Array, flags = 0): Uint8Array => encodePing(flags, tid, pk, rnd.bytes(16));

/** A key whose node id falls in `bucket` of `core`'s table. */
function keyInBucket(core: DhtCore, bucket: number): Identity {
  for (;;) {
    const id = key();
    if (commonPrefixLength(core.id, nodeIdOf(id.publicKey)) === bucket) return id;
  }
}

const only = (out: DhtOutput) => out.datagrams.map((d) => ({ to: d.to, m: decodeMessage(d.data) }));
const done = (out: DhtOutput): OpResult[] => out.events.map((e) => e.result);

describe('k-bucket eviction through the core (ping the least recently seen)', () => {
  const setup = () => {
    const core = newCore({ k: 2 });
    const [a, b, c] = [keyInBucket(core, 0), keyInBucket(core, 0), keyInBucket(core, 0)];
    admit(core, a, '10.0.1.1:1', T0);
    admit(core, b, '10.0.2.1:1', T0);
    // The bucket is full; a third node proves itself after the oldest has been quiet for > pingFreshMs.
    const out = only(admit(core, c, '10.0.3.1:1', T0 + 120_000)!);
    return { core, a, b, c, out };
  };

  it('pings the oldest contact instead of adding the newcomer', () => {
    const { core, a, c, out } = setup();
    expect(out.map((o) => [o.to, o.m.type])).toEqual([['10.0.1.1:1', MSG.PING]]);
    expect(core.table.has(nodeIdOf(c.publicKey))).toBe(false);
    expect(core.table.has(nodeIdOf(a.publicKey))).toBe(true);
  });

  it('keeps the oldest if it answers (it becomes the most recent), the newcomer is dropped', () => {
    const { core, a, b, c, out } = setup();
    const p = out.find((o) => o.m.type === MSG.PING)!.m;
    core.receive(encodePongFor(a, p, encodeAddress('10.0.0.99:1')), '10.0.1.1:1', T0 + 120_010);
    expect(core.table.has(nodeIdOf(c.publicKey))).toBe(false);
    const bucket = core.table.bucket(0)!;
    expect(bucket.indexOf(nodeIdOf(b.publicKey))).toBe(0);
    expect(bucket.indexOf(nodeIdOf(a.publicKey))).toBe(1);
  });

  it('evicts the oldest if its PONG does not sign our nonce (a key it does not hold), and adds the newcomer', () => {
    const { core, a, c, out } = setup();
    const p = out.find((o) => o.m.type === MSG.PING)!.m;
    core.receive(encodePong(0, p.tid, a.publicKey, encodeAddress('10.0.0.99:1'), new Uint8Array(64)), '10.0.1.1:1', T0 + 120_010);
    expect(core.stats.badProofs).toBe(1);
    expect(core.table.has(nodeIdOf(a.publicKey))).toBe(false);
    expect(core.table.has(nodeIdOf(c.publicKey))).toBe(true);
  });

  it('evicts the oldest if it stays silent past its timeout, and adds the newcomer', () => {
    const { core, a, c } = setup();
    core.tick(T0 + 120_001 + core.config.rtoMaxMs);
    expect(core.table.has(nodeIdOf(a.publicKey))).toBe(false);
    expect(core.table.has(nodeIdOf(c.publicKey))).toBe(true);
    expect(core.stats.timeouts).toBe(1);
  });
});

describe('store tokens', () => {
  it('a STORE with a token issued to another address (a spoofed source) fails; from the right address it succeeds', () => {
    const core = newCore();
    const asker = rnd.bytes(32);
    const out = only(core.receive(encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 11, asker, recordKey('alice')), '10.0.0.5:7', T0));
    const nodes = out[0]!.m;
    if (nodes.type !== MSG.NODES || !nodes.token) throw new Error('expected a NODES answer with a token');
    const store = encodeStore(0, 12, asker, nodes.token, recordKey('alice'), record().bytes);
    const spoofed = only(core.receive(store, '10.0.0.6:7', T0 + 1))[0]!.m;
    expect(spoofed.type === MSG.ERROR && spoofed.code).toBe(WIRE_ERROR.BAD_TOKEN);
    expect(core.store.size).toBe(0);
    expect(core.stats.badToken).toBe(1);
    const genuine = only(core.receive(store, '10.0.0.5:7', T0 + 2))[0]!.m;
    expect(genuine.type).toBe(MSG.STORED);
    expect(core.store.size).toBe(1);
  });

  it('gives no token unless asked, and stops accepting a token two rotations later', () => {
    const core = newCore({ tokenRotationMs: 1000 });
    const asker = rnd.bytes(32);
    const plain = only(core.receive(encodeFind(MSG.FIND_NODE, 0, 1, asker, rnd.bytes(32)), '10.0.0.5:7', T0))[0]!.m;
    expect(plain.type === MSG.NODES && plain.token).toBe(null);
    const m = only(core.receive(encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 2, asker, rnd.bytes(32)), '10.0.0.5:7', T0))[0]!.m;
    if (m.type !== MSG.NODES || !m.token) throw new Error('no token');
    const store = encodeStore(0, 3, asker, m.token, recordKey('alice'), record().bytes);
    const late = only(core.receive(store, '10.0.0.5:7', T0 + 2500))[0]!.m;
    expect(late.type === MSG.ERROR && late.code).toBe(WIRE_ERROR.BAD_TOKEN);
  });
});

describe('STORE floods', () => {
  it('a node flooded with valid STOREs from many sources stays within its storage bound', () => {
    const core = newCore({ maxStoredRecords: 50 });
    const asker = rnd.bytes(32);
    let stored = 0;
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const from = `10.7.${i >> 8}.${i & 255}:9`;
      const key = recordKey(`flood-${i}`);
      const m = only(core.receive(encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, i, asker, key), from, T0))[0]!.m;
      if (m.type !== MSG.NODES || !m.token) throw new Error('no token');
      const rec = record(3, { entityId: `flood-${i}`, capabilities: [] });
      const a = only(core.receive(encodeStore(0, 1000 + i, asker, m.token, key, rec.bytes), from, T0))[0]!.m;
      if (a.type === MSG.STORED) stored++;
      else if (a.type === MSG.ERROR && a.code === WIRE_ERROR.FULL) refused++;
      expect(core.store.size).toBeLessThanOrEqual(50);
    }
    expect(core.store.size).toBe(50);
    expect(stored + refused).toBe(300);
    expect(core.store.stats.evicted).toBe(stored - 50);
  });

  it('one source is cut off by the discovery limit long before the storage bound', () => {
    const core = newCore();
    const asker = rnd.bytes(32);
    let limited = 0;
    for (let i = 0; i < 100; i++) {
      const key = recordKey(`flood-${i}`);
      const m = only(core.receive(encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, i, asker, key), '10.8.0.1:9', T0))[0]!.m;
      if (m.type === MSG.ERROR) limited++;
    }
    expect(limited).toBe(80);
  });
});

describe('malformed and oversized datagrams', () => {
  it('are dropped without an answer and counted', () => {
    const core = newCore();
    const pk = rnd.bytes(32);
    const good = ping(1, pk);
    const inputs = [new Uint8Array(0), Uint8Array.of(0xd1), good.subarray(0, 20), Uint8Array.of(...good, 1), rnd.bytes(100), Uint8Array.of(0x11, ...good.subarray(1))];
    for (const d of inputs) expect(core.receive(d, '10.0.0.1:1', T0).datagrams).toHaveLength(0);
    expect(core.stats.malformed).toBe(inputs.length);
    expect(core.receive(new Uint8Array(core.config.maxDatagramBytes + 1), '10.0.0.1:1', T0).datagrams).toHaveLength(0);
    expect(core.stats.oversized).toBe(1);
    // A datagram claiming to come from our own id is dropped too.
    expect(core.receive(ping(1, core.publicKey), '10.0.0.1:1', T0).datagrams).toHaveLength(0);
    expect(core.table.size).toBe(0);
  });

  it('a response nobody asked for, or from another address than the one asked, is ignored', () => {
    const core = newCore();
    const op = core.ping('10.0.0.2:9', T0);
    const p = only(core.drain())[0]!.m;
    const id = key();
    core.receive(encodePongFor(id, p, encodeAddress('1.1.1.1:1')), '10.0.0.3:9', T0 + 5);
    core.receive(encodePongFor(id, { ...p, tid: p.tid + 1 }, encodeAddress('1.1.1.1:1')), '10.0.0.2:9', T0 + 5);
    expect(core.stats.unexpected).toBe(2);
    const r = done(core.receive(encodePongFor(id, p, encodeAddress('1.1.1.1:1')), '10.0.0.2:9', T0 + 6));
    expect(r[0]).toMatchObject({ op, ok: true, kind: 'ping' });
    expect(core.table.size).toBe(1);
  });
});

describe('per-source discovery limit', () => {
  it('answers RATE_LIMITED after a burst of 20 from one source, not to others; PINGs have a burst of their own', () => {
    const core = newCore();
    const pk = rnd.bytes(32);
    const find = (tid: number, from: string) => only(core.receive(encodeFind(MSG.FIND_NODE, 0, tid, pk, rnd.bytes(32)), from, T0))[0]!.m;
    for (let i = 0; i < 20; i++) expect(find(i, '10.0.0.1:1').type).toBe(MSG.NODES);
    const refused = find(20, '10.0.0.1:1');
    expect(refused.type === MSG.ERROR && refused.code).toBe(WIRE_ERROR.RATE_LIMITED);
    expect(find(21, '10.0.0.2:1').type).toBe(MSG.NODES);
    // A PONG costs a signature: 20 PINGs, then RATE_LIMITED, whatever the FIND bucket holds.
    for (let i = 0; i < 20; i++) expect(only(core.receive(ping(100 + i, pk), '10.0.0.1:1', T0))[0]!.m.type).toBe(MSG.PONG);
    const limitedPing = only(core.receive(ping(22, pk), '10.0.0.1:1', T0))[0]!.m;
    expect(limitedPing.type === MSG.ERROR && limitedPing.code).toBe(WIRE_ERROR.RATE_LIMITED);
    // 10 per minute: one more after 6 s.
    expect(only(core.receive(encodeFind(MSG.FIND_NODE, 0, 23, pk, rnd.bytes(32)), '10.0.0.1:1', T0 + 6000))[0]!.m.type).toBe(MSG.NODES);
    expect(core.stats.rateLimited).toBe(2);
  });
});

describe('failed lookups are DHT_ERROR', () => {
  it('with an empty routing table', () => {
    const core = newCore();
    const op = core.findNode(rnd.bytes(32), T0);
    const [r] = done(core.drain());
    expect(r).toMatchObject({ op, ok: false });
    expect(r!.error!.code).toBe(ErrorCode.DHT_ERROR);
    expect(r!.error!.details).toEqual({ reason: 'no-contacts' });
  });

  it('when no node answers (a bootstrap address is tried three times, one RTO each)', () => {
    const core = newCore({ rtoInitialMs: 200 });
    core.bootstrap(['10.9.9.9:1'], T0);
    const out = core.drain();
    expect(out.datagrams).toHaveLength(1);
    expect(out.deadline).toBe(T0 + 200);
    expect(core.tick(T0 + 200).datagrams).toHaveLength(1);
    expect(core.tick(T0 + 400).datagrams).toHaveLength(1);
    const [r] = done(core.tick(T0 + 600));
    expect(r).toMatchObject({ kind: 'bootstrap', ok: false, rpcs: 3 });
    expect(r!.error!.code).toBe(ErrorCode.DHT_ERROR);
    expect(r!.error!.details).toEqual({ reason: 'unreachable' });
  });

  it('a publish that no other node accepts fails (a local copy does not count)', () => {
    const core = newCore();
    core.publish({ entityId: 'alone', addresses: [], capabilities: [] }, signer(0), T0);
    const [r] = done(core.drain());
    expect(r).toMatchObject({ kind: 'publish', ok: false, stored: 0 });
    expect(r!.error!.details).toEqual({ reason: 'not-stored' });
    expect(r!.records[0]!.entityId).toBe('alone');
  });

  it('when the record does not exist, and when the only answer carries a forged record', () => {
    const core = newCore();
    const id = key();
    const peer = id.publicKey;
    admit(core, id, '10.0.0.2:2', T0);
    core.lookup('alice', T0);
    const q = only(core.drain())[0]!.m;
    const none = done(core.receive(encodeValue(0, q.tid, peer, [], 0, new Uint8Array(0)), '10.0.0.2:2', T0 + 3));
    expect(none[0]!.error!.details).toEqual({ reason: 'not-found' });

    core.lookup('alice', T0 + 10);
    const q2 = only(core.drain())[0]!.m;
    const forged = new Uint8Array(record(0, { lastSeen: T0 }).bytes);
    forged[forged.length - 1]! ^= 1;
    const r = done(core.receive(encodeValue(0, q2.tid, peer, [forged], 0, new Uint8Array(0)), '10.0.0.2:2', T0 + 12));
    expect(r[0]).toMatchObject({ ok: false });
    expect(r[0]!.error!.details).toEqual({ reason: 'not-found' });
    expect(core.stats.badRecords).toBe(1);
  });

  it('refuses operations beyond maxOperations with DHT_ERROR, synchronously', () => {
    const core = newCore({ maxOperations: 1 });
    admit(core, key(), '10.0.0.2:2', T0);
    core.findNode(rnd.bytes(32), T0);
    expect(() => core.findNode(rnd.bytes(32), T0)).toThrow(/DHT_ERROR/);
  });
});

describe('answers', () => {
  it('FIND_NODE returns the k closest known contacts, never the asker, within the datagram limit', () => {
    const core = newCore();
    for (let i = 0; i < 200; i++) admit(core, key(), `10.${1 + (i >> 8)}.${i & 255}.1:5`, T0);
    expect(core.table.size).toBeGreaterThan(40);
    const asker = key();
    admit(core, asker, '10.3.0.1:5', T0);
    const target = nodeIdOf(asker.publicKey);
    const d = core.receive(encodeFind(MSG.FIND_NODE, 0, 1, asker.publicKey, target), '10.3.0.1:5', T0).datagrams[0]!.data;
    expect(d.length).toBeLessThanOrEqual(core.config.maxDatagramBytes);
    const m = decodeMessage(d);
    if (m.type !== MSG.NODES) throw new Error('type');
    expect(m.contacts.count).toBe(20);
    const want = core.table.closest(target, 21).filter((c) => Buffer.compare(c.id, target) !== 0).slice(0, 20);
    const got: string[] = [];
    for (let i = 0; i < 20; i++) got.push(Buffer.from(m.contacts.bytes.subarray(i * 39, i * 39 + 32)).toString('hex'));
    expect(got.sort()).toEqual(want.map((c) => Buffer.from(c.id).toString('hex')).sort());
  });

  it('a read-only sender is answered but not asked to prove itself nor added to the routing table', () => {
    const core = newCore();
    const out = core.receive(encodeFind(MSG.FIND_NODE, 0x01, 1, rnd.bytes(32), rnd.bytes(32)), '10.0.0.1:1', T0);
    expect(out.datagrams).toHaveLength(1);
    expect(core.table.size).toBe(0);
  });

  it('a sender enters the table only by signing our nonce from its address, and one subnet holds at most maxPerPrefix of a bucket', () => {
    const core = newCore();
    const id = keyInBucket(core, 0);
    const out = core.receive(encodeFind(MSG.FIND_NODE, 0, 1, id.publicKey, rnd.bytes(32)), '10.0.0.1:1', T0);
    const p = pingTo(out, '10.0.0.1:1')!;
    expect(core.table.size).toBe(0);
    // Someone else's signature (the sender does not hold the key it claims) is not a proof.
    if (p.type !== MSG.PING) throw new Error('type');
    const observed = encodeAddress('10.0.0.1:1');
    core.receive(encodePong(0, p.tid, id.publicKey, observed, key().sign(proofMessage(p.nonce, observed))), '10.0.0.1:1', T0 + 1);
    expect(core.stats.badProofs).toBe(1);
    expect(core.table.size).toBe(0);
    admit(core, id, '10.0.0.1:1', T0 + 2);
    expect(core.table.has(nodeIdOf(id.publicKey))).toBe(true);
    admit(core, keyInBucket(core, 0), '10.0.0.2:1', T0 + 3);
    // A third of 10.0.0.0/24 in bucket 0: not even pinged.
    const third = keyInBucket(core, 0);
    expect(pingTo(core.receive(encodeFind(MSG.FIND_NODE, 0, 2, third.publicKey, rnd.bytes(32)), '10.0.0.3:1', T0 + 4), '10.0.0.3:1')).toBeUndefined();
    expect(core.table.bucket(0)!.count).toBe(2);
  });

  it('a NODES answer is unchanged by encodeNodes when empty', () => {
    expect(decodeMessage(encodeNodes(0, 1, rnd.bytes(32), null, 0, new Uint8Array(0))).type).toBe(MSG.NODES);
  });
});
