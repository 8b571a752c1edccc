/**
 * The stages of the adversarial simulation (issue 11), shared by bench/sim-dht.js (N = 10,000)
 * and test/dht/sim-1000.test.ts: one stage publishes fresh entities with the adversary's
 * current Sybils in place and measures lookups of them; the ground-ids stage aims 20 ids of one
 * /24 at one entity's key before it publishes.
 */
import { selfCertifyingName, type BindingCheck } from './binding.js';
import type { OpResult } from './operations.js';
import { recordKey } from './record.js';
import {
  entityKey, measureDiscover, measureFindNode, measureFindValue, pinnedBy, publishRecords,
  type LookupFigures, type NameFigures, type PublishedRecord,
} from './scenarios.js';
import type { Adversary } from './sim-adversary.js';
import type { DhtSimulation } from './simulation.js';

export interface StageOptions {
  /** Entities with self-certifying ids, and with human names (pinned in the requesters' trust store). */
  records: number;
  names: number;
  /** Lookups of each kind (FIND_NODE, self-certifying ids, pinned names). */
  lookups: number;
  /** discover() calls. */
  discovers: number;
  /** Virtual time between publishing and measuring (republishes run meanwhile). */
  settleMs: number;
  /** Forged claims published per human name (by different Sybils). */
  forgersPerName: number;
  /** Told which step starts (progress lines). */
  step?: (what: string) => void;
}

export interface StageFigures {
  records: PublishedRecord[];
  bind: BindingCheck;
  publish: OpResult[];
  forged: OpResult[];
  fn: LookupFigures;
  /** Lookups of self-certifying ids, and of human names pinned in the requesters' trust store. */
  fv: NameFigures;
  fp: NameFigures;
  disc: { ok: number; coverage: number; rpcsMedian: number };
}

/** Numbers entities so that every stage publishes fresh ones (an attacker knows them all in advance). */
export class EntityPlan {
  next = 0;

  take(count: number, named: boolean): Pick<PublishedRecord, 'entityId' | 'capability'>[] & { from: number } {
    const from = this.next;
    this.next += count;
    const out = Array.from({ length: count }, (_, j) => ({
      entityId: named ? `name-${from + j}` : selfCertifyingName(entityKey(from + j).publicKey),
      capability: capabilityOf(from + j),
    }));
    return Object.assign(out, { from });
  }
}

const CAPABILITIES = 50;
const capabilityOf = (i: number): string => `cap-${i % CAPABILITIES}`;

/** Publishes fresh entities (aimed at by `adversary` first), lets `settleMs` pass, measures. */
export function runStage(sim: DhtSimulation, adversary: Adversary, plan: EntityPlan, o: StageOptions): StageFigures {
  const step = o.step ?? ((): void => {});
  const selfIds = plan.take(o.records, false);
  const names = plan.take(o.names, true);
  adversary.target([...selfIds, ...names]);
  step('publishing');
  const self = publishRecords(sim, selfIds.length, CAPABILITIES, { from: selfIds.from });
  const named = publishRecords(sim, names.length, CAPABILITIES, { from: names.from, named: true });
  const records = [...self.records, ...named.records];
  adversary.spare(records.map((r) => r.owner));
  step('forged claims of the human names');
  const forged = adversary.size > 0 ? adversary.forgeClaims(named.records, o.forgersPerName) : [];
  step(`${o.settleMs / 1000} s virtual (republishing), virtual ms`);
  sim.advance(o.settleMs);
  const bind = pinnedBy(records);
  step('FIND_NODE');
  const fn = measureFindNode(sim, o.lookups);
  step('lookups of self-certifying ids');
  const fv = measureFindValue(sim, self.records, o.lookups, 50, bind);
  step('lookups of pinned names');
  const fp = measureFindValue(sim, named.records, o.lookups, 50, bind);
  step('discover');
  const disc = measureDiscover(sim, records, o.discovers, 20, bind);
  return { records, bind, publish: [...self.results, ...named.results], forged, fn, fv, fp, disc };
}

/**
 * Ends a stage's load: its owners and forgers stop republishing (what they stored expires
 * within a ttl), so each stage costs the same whatever came before.
 */
export function retireStage(sim: DhtSimulation, adversary: Adversary, s: StageFigures): void {
  for (const r of s.records) sim.nodes[r.owner]!.core.unpublish(r.entityId);
  adversary.stopForging();
}

export interface GroundFigures {
  /** Key pairs the attacker drew. */
  tries: number;
  /** Ground ids among the 20 closest live ids to the key. */
  inClosest: number;
  publish: OpResult;
  lookups: NameFigures;
}

/**
 * `count` Sybils with ids ground near a fresh entity's presence key, all in one /24, join; then
 * the entity publishes and `lookups` honest nodes look it up.
 */
export function runGroundIds(sim: DhtSimulation, adversary: Adversary, plan: EntityPlan, count: number, lookups: number, step: (what: string) => void = () => {}): GroundFigures {
  const victim = plan.take(1, false);
  const key = recordKey(victim[0]!.entityId);
  adversary.target(victim);
  // Enough leading bits to land among the k closest of the network's ids, and a little closer.
  const k = sim.nodes[0]!.core.config.k;
  const bits = Math.ceil(Math.log2(sim.nodes.length / k)) + 2;
  step(`grinding ${count} ids (${bits} bits each) and joining`);
  const ground = adversary.grind(key, count, bits, '10.0.0');
  sim.advance(60_000);
  const closest = new Set(sim.trueClosest(key, k));
  step('the victim publishes');
  const pub = publishRecords(sim, 1, CAPABILITIES, { from: victim.from });
  adversary.spare(pub.records.map((r) => r.owner));
  step('lookups of the victim');
  return {
    tries: ground.tries,
    inClosest: ground.nodes.filter((n) => closest.has(n.index)).length,
    publish: pub.results[0]!,
    lookups: measureFindValue(sim, pub.records, lookups, 20),
  };
}
