/**
 * Issue 11, liveness: a gracefully closed agent disappears from discover() and lookup() within
 * seconds (signed tombstone, over UDP); a killed one within its record ttl (virtual time).
 * Both fail on issue 5's DHT (record ttl 86,400 s, nothing on close).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Peer } from '../../src/index.js';
import { DhtSimulation } from '../../src/dht/simulation.js';
import { publishRecords } from '../../src/dht/scenarios.js';
import { RECORD_TTL_S } from '../../src/dht/constants.js';

const peers: Peer[] = [];
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

describe('records die with their agent', () => {
  it('a gracefully closed agent is gone from discover() and lookup() right after close()', async () => {
    const seed = await Peer.create({ dht: { host: '127.0.81.1' } });
    peers.push(seed);
    const boot = [seed.dht!.address];
    const mk = async (host: string, caps: string[] = []): Promise<Peer> => {
      const p = await Peer.create({ bootstrap: boot, dht: { host }, capabilities: caps });
      peers.push(p);
      return p;
    };
    const agent = await mk('127.0.82.1', ['summarize']);
    await agent.listen({ host: '127.0.82.1', port: 0 });
    const stays = await mk('127.0.83.1', ['summarize']);
    const client = await mk('127.0.84.1');
    const other = await mk('127.0.85.1');
    expect((await client.discover('summarize')).map((r) => r.entityId).sort()).toEqual([agent.entityId, stays.entityId].sort());
    expect((await client.lookup(agent.entityId)).addresses.length).toBe(1);
    const t0 = Date.now();
    await agent.close();
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Another view (a node that never saw the agent) and the client agree at once.
    for (const p of [client, other]) {
      expect((await p.discover('summarize')).map((r) => r.entityId)).toEqual([stays.entityId]);
      await expect(p.lookup(agent.entityId)).rejects.toMatchObject({ code: 'DHT_ERROR', details: { reason: 'gone' } });
    }
  }, 60_000);

  it('a killed agent is gone from discover() and lookup() once its ttl has passed, and republished ones stay', () => {
    const sim = new DhtSimulation({ seed: 3 });
    sim.grow(60, 10, 60_000);
    const { records } = publishRecords(sim, 10, 1);
    const dead = records[0]!;
    sim.net.kill(sim.nodes[dead.owner]!.ep.address);
    const from = dead.owner === 1 ? 2 : 1;
    sim.advance(RECORD_TTL_S * 1000 + 60_000);
    const found = sim.run(from, (core, now) => core.discover(dead.capability, now)).records.map((r) => r.entityId);
    expect(found).not.toContain(dead.entityId);
    const alive = records.filter((r) => r.owner !== dead.owner);
    for (const r of alive) expect(found).toContain(r.entityId);
    expect(sim.run(from, (core, now) => core.lookup(dead.entityId, now)).ok).toBe(false);
  }, 60_000);
});
