/**
 * Small networks on the in-memory network, in virtual time: lookups converge, records are
 * published, found, discovered, republished and expire.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { T_REFRESH_MS } from '../../src/dht/constants.js';
import { idHex } from '../../src/dht/id.js';
import { recordKey } from '../../src/dht/record.js';
import { DhtSimulation } from '../../src/dht/simulation.js';
import { signer } from './helpers.js';

/** `uniform`: every path has the same latency, so no request outlives its RTO (convergence alone). */
function network(n: number, seed = 1, uniform = false, settleMs = 30_000): DhtSimulation {
  const sim = new DhtSimulation({ seed, network: uniform ? { minLatencyMs: 40, maxLatencyMs: 40 } : {} });
  expect(sim.grow(n, 10, settleMs).failedJoins).toBe(0);
  return sim;
}

describe('lookup convergence', () => {
  it.each([[5], [25], [60]])('finds exactly the k closest ids in a network of %i nodes', (n) => {
    const sim = network(n, n, true);
    for (let i = 0; i < 20; i++) {
      const target = sim.random.bytes(32);
      const from = sim.randomAlive().index;
      const r = sim.run(from, (core, now) => core.findNode(target, now));
      expect(r.ok).toBe(true);
      const truth = sim.trueClosest(target, 20, from).map((j) => idHex(sim.nodes[j]!.core.id));
      expect(r.closest.map((c) => idHex(c.id))).toEqual(truth);
    }
  });

  it('every node knows the whole network when it is smaller than a bucket', () => {
    // Contacts enter a table a round trip after they are met (once they prove their ids), so a
    // network formed by a burst of joins completes at its nodes' periodic self-lookup (a table
    // under k contacts repeats it every maintenance period, 60 s).
    const sim = network(15, 3, true, 70_000);
    for (const node of sim.nodes) expect(node.core.table.size).toBe(14);
  });
});

describe('slow nodes', () => {
  it('an answer after the RTO still counts, and the slow contact stays in the table', () => {
    // Every contact's RTT is measured when it proves its id, so slowness comes from jitter:
    // up to 200 ms more on any datagram.
    const sim = new DhtSimulation({ seed: 5, network: { jitterMs: 200 } });
    sim.grow(5, 10, 30_000);
    const core = sim.nodes[2]!.core;
    for (let i = 0; i < 20 && core.stats.slow === 0; i++) sim.run(2, (c, now) => c.findNode(sim.random.bytes(32), now));
    expect(core.stats.slow).toBeGreaterThan(0);
    sim.advance(10_000);
    expect(core.stats.timeouts).toBe(0);
    expect(core.stats.unexpected).toBe(0);
    expect(core.table.size).toBe(4);
  });
});

describe('records on a 100-node network', () => {
  let sim: DhtSimulation;
  beforeAll(() => {
    sim = network(100, 5);
  }, 180_000);
  const alice = signer(1);

  it('publish stores a record under each key at the k closest nodes; lookup and discover find it from anywhere', () => {
    const pub = sim.run(0, (core, now) => core.publish({ entityId: 'alice', addresses: ['tcp://10.0.0.1:7000'], capabilities: ['summarize'] }, alice, now));
    expect(pub.ok).toBe(true);
    expect(pub.stored).toBeGreaterThanOrEqual(3 * 20);
    const holders = sim.nodes.filter((n) => n.core.store.get(recordKey('alice'), sim.now).length > 0).map((n) => idHex(n.core.id)).sort();
    const closest = sim.trueClosest(recordKey('alice'), 20).map((j) => idHex(sim.nodes[j]!.core.id)).sort();
    expect(holders).toEqual(closest);
    for (let i = 0; i < 10; i++) {
      const from = sim.randomAlive().index;
      const found = sim.run(from, (core, now) => core.lookup('alice', now));
      expect(found.ok).toBe(true);
      expect(found.records[0]!.addresses).toEqual(['tcp://10.0.0.1:7000']);
      const byCap = sim.run(from, (core, now) => core.lookup('alice', now, 'summarize'));
      expect(byCap.ok).toBe(true);
      const disc = sim.run(from, (core, now) => core.discover('summarize', now));
      expect(disc.records.map((r) => r.entityId)).toEqual(['alice']);
    }
    const none = sim.run(3, (core, now) => core.discover('juggling', now));
    expect(none).toMatchObject({ ok: true, records: [] });
    const missing = sim.run(3, (core, now) => core.lookup('bob', now));
    expect(missing.error?.code).toBe(ErrorCode.DHT_ERROR);
  });

  it('discover gathers many providers of one capability', () => {
    for (let i = 0; i < 12; i++) {
      const r = sim.run(i, (core, now) => core.publish({ entityId: `worker-${i}`, addresses: [], capabilities: ['embed'] }, signer(100 + i), now));
      expect(r.ok).toBe(true);
    }
    const disc = sim.run(50, (core, now) => core.discover('embed', now));
    expect(disc.records.map((r) => r.entityId).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `worker-${i}`).sort());
  });

  it('the owner republishes every tRefresh with a newer last_seen; an unpublished record expires after its ttl', () => {
    const before = sim.run(7, (core, now) => core.lookup('alice', now)).records[0]!.lastSeen;
    sim.advance(T_REFRESH_MS + 61_000);
    const after = sim.run(7, (core, now) => core.lookup('alice', now)).records[0]!.lastSeen;
    expect(after).toBeGreaterThan(before + T_REFRESH_MS - 1);
    expect(sim.run(2, (core, now) => core.publish({ entityId: 'bob', addresses: [], capabilities: [], ttl: 120 }, signer(2), now)).ok).toBe(true);
    expect(sim.run(7, (core, now) => core.lookup('bob', now)).ok).toBe(true);
    sim.nodes[2]!.core.unpublish('bob');
    sim.advance(121_000);
    expect(sim.run(7, (core, now) => core.lookup('bob', now)).error?.details).toEqual({ reason: 'not-found' });
    sim.advance(60_000);
    expect(sim.nodes.every((n) => n.core.store.size === 0 || n.core.store.get(recordKey('bob'), sim.now).length === 0)).toBe(true);
  }, 180_000);

  it('refreshes buckets: every node looks up each bucket without traffic within tRefresh', () => {
    const refreshed = sim.nodes[9]!.core.table.buckets.filter(Boolean).every((b) => sim.now - b!.lastLookup < T_REFRESH_MS + 61_000);
    expect(refreshed).toBe(true);
  });
});
