/**
 * Issue 11, eclipse over UDP on 127.x.y.z: 20 node ids ground close to one key (real keys, so
 * they prove their ids), all on one /24, announce themselves to every honest node, answer
 * FIND_NODE and FIND_VALUE with one another only, and acknowledge STOREs without keeping them.
 * Their aim: every STORE of the key swallowed and every lookup of it failed. Per-subnet caps
 * (in each bucket, each k-closest set and each answer taken) and disjoint lookup paths keep
 * the honest nodes among those asked.
 */
import sodium from 'sodium-native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, randomBytes } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import { selfCertifyingName } from '../../src/dht/binding.js';
import { commonPrefixLength, nodeIdOf } from '../../src/dht/id.js';
import { DhtNode } from '../../src/dht/node.js';
import { recordKey } from '../../src/dht/record.js';
import { Rogue } from './rogue.js';

const HONEST = 30;
const SYBILS = 20;
/** Leading bits each ground id shares with the key (the honest ones share about log2(30) ≈ 5). */
const GROUND_BITS = 10;

const honest: DhtNode[] = [];
const sybils: Rogue[] = [];
afterAll(async () => {
  await Promise.all(sybils.map((s) => s.close()));
  await Promise.all(honest.map((n) => n.close()));
});

const settle = (ms = 500): Promise<void> => new Promise((r) => setTimeout(r, ms));

const owner = Identity.generate();
const name = selfCertifyingName(owner.publicKey);
const key = recordKey(name);

/** A key whose node id shares at least `bits` leading bits with `target` (a search in plain buffers). */
function groundKey(target: Uint8Array, bits: number): Identity {
  const [pk, sk] = [Buffer.alloc(32), Buffer.alloc(64)];
  for (;;) {
    const seed = randomBytes(32);
    sodium.crypto_sign_seed_keypair(pk, sk, seed);
    if (commonPrefixLength(nodeIdOf(pk), target) >= bits) return Identity.fromSeed(seed);
  }
}

beforeAll(async () => {
  for (let i = 0; i < HONEST; i++) {
    const n = new DhtNode(i === HONEST - 1 ? { identity: owner } : {});
    await n.start({ host: `127.6.${10 + i}.1`, bootstrap: i === 0 ? [] : [honest[0]!.address] });
    honest.push(n);
  }
  // The Sybils: 20 ground ids on 127.6.66.0/24, each answering with the other 19.
  const contacts = (): [number, Uint8Array] => {
    const all = sybils.map((s) => Buffer.concat([nodeIdOf(s.identity.publicKey), encodeAddress(s.address)]));
    return [all.length, new Uint8Array(Buffer.concat(all))];
  };
  for (let i = 0; i < SYBILS; i++) {
    sybils.push(await Rogue.start(`127.6.66.${i + 1}`, { contacts, fakeStore: true }, groundKey(key, GROUND_BITS)));
  }
  // Each announces itself to every honest node (a FIND_NODE of the key: they now know it).
  for (const s of sybils) for (const n of honest) s.announce(n.address, key);
  await settle(1500);
}, 120_000);

describe('eclipse by 20 ground ids from one /24', () => {
  it('does not swallow the STOREs of a key nor fail its lookups', async () => {
    const pub = honest[HONEST - 1]!;
    await pub.publish({ entityId: name, addresses: ['127.6.39.1:7000'], capabilities: [] });
    const holders = honest.filter((n) => n.stats().storedRecords > 0).length;
    let found = 0;
    for (let i = 0; i < 20; i++) {
      try {
        const r = await honest[i]!.lookup(name);
        if (Buffer.from(r.publicKey).equals(owner.publicKey)) found++;
      } catch {
        // counted as a failure
      }
    }
    const sybilHits = sybils.reduce((n, s) => n + s.received, 0);
    console.log(`eclipse: ${holders} honest nodes hold the record; lookups found it ${found}/20; the Sybils received ${sybilHits} datagrams`);
    expect(sybilHits).toBeGreaterThan(0);
    expect(holders).toBeGreaterThanOrEqual(10);
    expect(found).toBe(20);
  }, 120_000);
});
