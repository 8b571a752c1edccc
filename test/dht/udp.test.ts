/** 200 DHT nodes over real UDP on 127.0.0.1 in one process: join, lookups, records, discovery. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { compareDistance, idHex } from '../../src/dht/id.js';
import { DhtNode } from '../../src/dht/node.js';
import { selfCertifyingName } from '../../src/dht/binding.js';
import { UdpTransport } from '../../src/transport/udp.js';
import { expectPeerErrorAsync } from '../helpers/errors.js';

const N = 200;
const nodes: DhtNode[] = [];

/** Node i's own loopback /24: limits and quotas count by address prefix, as on the Internet. */
const hostOf = (i: number): string => `127.1.${i}.1`;

beforeAll(async () => {
  const first = new DhtNode();
  await first.start({ host: hostOf(0) });
  nodes.push(first);
  // Join in waves, each through a random node already in.
  for (let i = 1; i < N; i += 25) {
    const wave = Array.from({ length: Math.min(25, N - i) }, () => new DhtNode());
    await Promise.all(wave.map((n, j) => n.start({ host: hostOf(i + j), bootstrap: [nodes[Math.floor(Math.random() * nodes.length)]!.address] })));
    nodes.push(...wave);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
});

describe(`${N} nodes over UDP on 127.0.0.1`, () => {
  it('have joined: every routing table holds at least k contacts', () => {
    expect(nodes).toHaveLength(N);
    for (const n of nodes) expect(n.stats().contacts).toBeGreaterThanOrEqual(20);
  });

  it('FIND_NODE returns the true 20 closest ids', async () => {
    let recall = 0;
    const tries = 50;
    for (let i = 0; i < tries; i++) {
      const target = Identity.generate().publicKey;
      const from = nodes[i * 3]!;
      const got = await from.findNode(target);
      const truth = nodes.filter((n) => n !== from).map((n) => n.id).sort((a, b) => compareDistance(a, b, target)).slice(0, 20).map(idHex);
      const set = new Set(got.map((c) => idHex(c.id)));
      recall += truth.filter((t) => set.has(t)).length / 20;
    }
    expect(recall / tries).toBeGreaterThanOrEqual(0.99);
  });

  it('records published by 20 entities are found by entity id and discovered by capability from any node', async () => {
    const agents = Array.from({ length: 20 }, (_, i) => {
      const id = Identity.generate();
      // Self-certifying names: a lookup by name returns only a key bound to it.
      return { id, entityId: selfCertifyingName(id.publicKey), cap: i % 2 ? 'summarize' : 'translate' };
    });
    await Promise.all(agents.map((a, i) => nodes[i * 7]!.publish({ entityId: a.entityId, addresses: [`127.0.0.1:${7000 + i}`], capabilities: [a.cap] }, a.id)));
    for (let i = 0; i < 40; i++) {
      const a = agents[i % 20]!;
      const rec = await nodes[(i * 13 + 5) % N]!.lookup(a.entityId);
      expect(Buffer.from(rec.publicKey).equals(a.id.publicKey)).toBe(true);
    }
    const sum = await nodes[199]!.discover('summarize');
    expect(sum.map((r) => r.entityId).sort()).toEqual(agents.filter((a) => a.cap === 'summarize').map((a) => a.entityId).sort());
    await expectPeerErrorAsync(nodes[3]!.lookup('nobody'), ErrorCode.DHT_ERROR);
    // Records go to their 20 closest nodes (3 keys per entity). Over UDP on a loaded machine a
    // STORE to a slow replica can time out (the publish then goes on without it: Kademlia needs
    // any of the k, which the lookups above prove from 40 different nodes), so the replicas
    // stored are checked to be nearly all of them rather than exactly all.
    const accepted = (): number => nodes.reduce((sum, n) => sum + n.stats().storesAccepted, 0);
    for (let waited = 0; accepted() < 20 * 3 * 20 && waited < 1000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(accepted()).toBeGreaterThanOrEqual(0.95 * 20 * 3 * 20);
    expect(nodes.reduce((sum, n) => sum + n.stats().malformed, 0)).toBe(0);
  });

  it('a malformed datagram sent to a node is dropped and counted', async () => {
    const target = nodes[10]!;
    const before = target.stats().malformed;
    const raw = await UdpTransport.bind({ host: '127.0.0.1', onDatagram: () => {} });
    raw.send(target.address, Buffer.from('not a DHT datagram'));
    raw.send(target.address, Buffer.alloc(2000));
    await new Promise((r) => setTimeout(r, 100));
    await raw.close();
    expect(target.stats().malformed).toBe(before + 1);
    expect(target.stats().oversized).toBe(1);
  });
});

describe('DhtNode lifecycle', () => {
  it('a join through a silent address fails with DHT_ERROR and closes the node', async () => {
    const silent = await UdpTransport.bind({ host: '127.0.0.1', onDatagram: () => {} });
    const n = new DhtNode({ config: { rtoMaxMs: 300, rtoInitialMs: 100 } });
    await expectPeerErrorAsync(n.start({ host: '127.0.0.1', bootstrap: [silent.address] }), ErrorCode.DHT_ERROR);
    await silent.close();
    await expectPeerErrorAsync(n.lookup('x'), ErrorCode.INVALID_STATE);
  });

  it('resolves host names, refuses a second start, and rejects operations after close', async () => {
    const a = new DhtNode();
    await a.start({ host: '127.0.0.1' });
    const b = new DhtNode();
    await b.start({ host: '127.0.0.1', bootstrap: [`localhost:${a.port}`] });
    expect((await b.ping(a.address)).address).toBe(a.address);
    await expectPeerErrorAsync(a.start(), ErrorCode.INVALID_STATE);
    await b.close();
    await expectPeerErrorAsync(b.findNode(new Uint8Array(32)), ErrorCode.INVALID_STATE);
    await a.close();
  });
});
