/**
 * Adversaries in the DHT simulation (issue 11). A Sybil is an ordinary simulated node (a real
 * DhtCore, its id the SHA-256 of its public key, so it answers PINGs, joins, looks up and
 * publishes through the protocol's own code and stays in routing tables) whose answers to
 * FIND_NODE, FIND_VALUE and STORE are replaced by an attack; the Sybils collude (they share one
 * list of themselves):
 *
 * - FIND_NODE: only Sybils, the closest to the target the colluders know, with a store token
 *   (so publishers send them STOREs to drop);
 * - FIND_VALUE: for a victim's key, forged records, each validly signed by a fresh attacker key:
 *   a claim of the victim's name dated now, one dated a year ahead, a stale one, and the
 *   victim's own record captured from an earlier STORE (a replay); for a capability's provider
 *   key, bound providers of the attacker's own (self-certifying ids of fresh keys) to crowd the
 *   real ones out; and in every answer, Sybil contacts;
 * - STORE: acknowledged (STORED) and dropped.
 *
 * Two more attacks use only the real code: forged claims of human names stored through the
 * Sybils' own publish() (forgeClaims), and ids ground near a target key (grind): public keys
 * drawn until SHA-256 of the key, the real id rule, lands next to it.
 * Every byte they send goes through the protocol's encoders, so honest nodes parse it.
 */
import { encodeAddress } from './address.js';
import { selfCertifyingName } from './binding.js';
import type { DhtOutput } from './core.js';
import { compareDistance, idHex } from './id.js';
import { decodeMessage, encodeNodes, encodeStored, encodeValue, HEADER_BYTES, isRequest, MSG, type Message } from './messages.js';
import type { OpResult } from './operations.js';
import { providerKey, recordKey, signRecord } from './record.js';
import type { PublishedRecord } from './scenarios.js';
import { grindPublicKey, SimKey } from './sim-keys.js';
import type { DhtSimulation, SimNode } from './simulation.js';
import { TOKEN_BYTES } from './constants.js';

/** One Sybil in the colluders' list, kept sorted by id. */
interface Colluder {
  id: Uint8Array;
  /** id ‖ wire address: one contact as NODES carries it. */
  contact: Uint8Array;
  index: number;
}

/** What the attacker knows about a key it attacks (names are public). */
interface Target {
  entityId: string;
  capability: string;
  provider: boolean;
}

export interface AdversaryStats {
  /** Requests the Sybils answered with an attack. */
  answered: number;
  forgedRecords: number;
  droppedStores: number;
  replays: number;
}

const YEAR_MS = 365 * 86_400_000;
/** Forged providers per provider-key answer. */
const SPAM_PROVIDERS = 3;

export class Adversary {
  readonly stats: AdversaryStats = { answered: 0, forgedRecords: 0, droppedStores: 0, replays: 0 };
  private readonly colluders: Colluder[] = [];
  private readonly targets = new Map<string, Target>();
  /** Genuine records of targeted keys caught in dropped STOREs (the first version: the oldest). */
  private readonly captured = new Map<string, Uint8Array>();
  private readonly token: Uint8Array;
  private readonly spared = new Set<number>();
  /** Forged claims being republished: Sybil index and name. */
  private readonly forgeries: [number, string][] = [];

  constructor(private readonly sim: DhtSimulation) {
    this.token = sim.random.bytes(TOKEN_BYTES);
  }

  get size(): number {
    return this.colluders.length;
  }

  /** Nodes never to take over (the owners whose names are measured). */
  spare(indices: Iterable<number>): void {
    for (const i of indices) this.spared.add(i);
  }

  /** Registers the keys of `records` as targets: their presence, capability and provider keys. */
  target(records: Pick<PublishedRecord, 'entityId' | 'capability'>[]): void {
    for (const r of records) {
      this.targets.set(idHex(recordKey(r.entityId)), { entityId: r.entityId, capability: r.capability, provider: false });
      this.targets.set(idHex(recordKey(r.entityId, r.capability)), { entityId: r.entityId, capability: r.capability, provider: false });
      this.targets.set(idHex(providerKey(r.capability)), { entityId: r.entityId, capability: r.capability, provider: true });
    }
  }

  /** Takes node `index` over: its handlers for FIND_NODE, FIND_VALUE and STORE become the attack. */
  turn(node: SimNode): void {
    if (!node.honest) return;
    node.honest = false;
    node.receive = (data, from, now) => this.receive(node, data, from, now);
    const entry: Colluder = {
      id: node.core.id, index: node.index,
      contact: new Uint8Array([...node.core.id, ...encodeAddress(node.ep.address)]),
    };
    let lo = 0;
    let hi = this.colluders.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.colluders[mid]!.id, entry.id) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.colluders.splice(lo, 0, entry);
  }

  /** Turns random live honest nodes (never a spared one) until Sybils are `fraction` of all nodes; returns how many. */
  turnFraction(fraction: number): number {
    const want = Math.round(fraction * this.sim.nodes.length);
    const candidates = this.sim.nodes.filter((n) => n.honest && n.ep.alive && !this.spared.has(n.index));
    let turned = 0;
    while (this.colluders.length < want && candidates.length > 0) {
      const j = this.sim.random.u32() % candidates.length;
      const n = candidates[j]!;
      candidates[j] = candidates[candidates.length - 1]!;
      candidates.pop();
      this.turn(n);
      turned++;
    }
    return turned;
  }

  /**
   * `count` Sybils with ids ground to share `bits` leading bits with `target`, all in one /24
   * (`subnet`, e.g. "10.0.0"), joining the network; returns their nodes and the keys drawn.
   */
  grind(target: Uint8Array, count: number, bits: number, subnet: string): { nodes: SimNode[]; tries: number } {
    const nodes: SimNode[] = [];
    let tries = 0;
    let joined = 0;
    for (let i = 0; i < count; i++) {
      const g = grindPublicKey(target, bits, this.sim.random);
      tries += g.tries;
      const node = this.sim.join({ publicKey: g.publicKey, address: `${subnet}.${i + 1}:4000` }, () => { joined++; });
      this.turn(node);
      nodes.push(node);
    }
    this.sim.net.runUntil(() => joined === count);
    return { nodes, tries };
  }

  /**
   * Forged claims of named entities stored with the real publish(): for each record, `perName`
   * Sybils (each from a prefix of its own) publish a record of its name signed by a key of the
   * attacker's. Storing nodes keep at most maxKeysPerName claims of a name, one per prefix.
   */
  forgeClaims(records: PublishedRecord[], perName: number, concurrency = 50): OpResult[] {
    const tasks: { node: number; start: (core: SimNode['core'], now: number) => number }[] = [];
    for (const r of records) {
      for (let i = 0; i < perName && this.colluders.length > 0; i++) {
        const sybil = this.sim.nodes[this.colluders[this.sim.random.u32() % this.colluders.length]!.index]!;
        this.forgeries.push([sybil.index, r.entityId]);
        tasks.push({
          node: sybil.index,
          start: (core, now) => core.publish({ entityId: r.entityId, addresses: [`tcp://${sybil.ep.address}`], capabilities: [r.capability] }, SimKey.random(this.sim.random), now),
        });
      }
    }
    return this.sim.runAll(tasks, concurrency);
  }

  /** Stops republishing every forged claim (their copies expire within a ttl). */
  stopForging(): void {
    for (const [index, entityId] of this.forgeries) this.sim.nodes[index]!.core.unpublish(entityId);
    this.forgeries.length = 0;
  }

  // ---- the replaced handlers ---------------------------------------------------------------

  private receive(node: SimNode, data: Uint8Array, from: string, now: number): DhtOutput {
    // Answers and PINGs go to the real core: that is what keeps a Sybil in everyone's table.
    if (data.length < 2 || !isRequest(data[1]!) || data[1] === MSG.PING) return node.core.receive(data, from, now);
    let m: Message;
    try {
      m = decodeMessage(data);
    } catch {
      return node.core.drain();
    }
    const reply = this.answer(node, m, now);
    const out = node.core.drain();
    if (!reply) return out;
    this.stats.answered++;
    return { ...out, datagrams: [...out.datagrams, { to: from, data: reply }] };
  }

  private answer(node: SimNode, m: Message, now: number): Uint8Array | null {
    const pk = node.core.publicKey;
    const max = node.core.config.maxDatagramBytes;
    switch (m.type) {
      case MSG.FIND_NODE: {
        const [n, block] = this.closest(m.target, node.index, max - HEADER_BYTES - 2 - TOKEN_BYTES);
        return encodeNodes(0, m.tid, pk, this.token, n, block);
      }
      case MSG.FIND_VALUE: {
        const records = this.forge(node, m.key, now);
        let room = max - HEADER_BYTES - 2;
        for (const r of records) room -= 2 + r.length;
        const [n, block] = this.closest(m.key, node.index, room);
        return encodeValue(0, m.tid, pk, records, n, block);
      }
      case MSG.STORE: {
        const key = idHex(m.key);
        if (this.targets.has(key) && !this.captured.has(key)) this.captured.set(key, new Uint8Array(m.record));
        this.stats.droppedStores++;
        return encodeStored(0, m.tid, pk, 0);
      }
      default:
        return null;
    }
  }

  /** The forged records for `key` (none if it is no target's). */
  private forge(node: SimNode, key: Uint8Array, now: number): Uint8Array[] {
    const t = this.targets.get(idHex(key));
    if (!t) return [];
    const ttl = node.core.config.recordTtlS;
    const addresses = [`tcp://${node.ep.address}`];
    const out: Uint8Array[] = [];
    const sign = (entityId: string, lastSeen: number): void => {
      const attacker = SimKey.random(this.sim.random);
      out.push(signRecord({ entityId, addresses, capabilities: [t.capability], lastSeen: Math.floor(lastSeen), ttl }, attacker).bytes);
      this.stats.forgedRecords++;
    };
    if (t.provider) {
      // Providers of the attacker's own, validly bound (self-certifying), to fill the requester's list.
      for (let i = 0; i < SPAM_PROVIDERS; i++) {
        const attacker = SimKey.random(this.sim.random);
        out.push(signRecord({ entityId: selfCertifyingName(attacker.publicKey), addresses, capabilities: [t.capability], lastSeen: Math.floor(now), ttl }, attacker).bytes);
        this.stats.forgedRecords++;
      }
      return out;
    }
    sign(t.entityId, now);
    sign(t.entityId, now + YEAR_MS);
    sign(t.entityId, now - 2 * ttl * 1000);
    const replay = this.captured.get(idHex(key));
    if (replay) {
      out.push(replay);
      this.stats.replays++;
    }
    return out;
  }

  /** The Sybils closest to `target` (not `self`), as a NODES contact block within `room` bytes. */
  private closest(target: Uint8Array, self: number, room: number): [number, Uint8Array] {
    const list = this.colluders;
    const k = this.sim.nodes[self]!.core.config.k;
    // The k closest by XOR sit in the smallest subtree around the target: a window of the
    // id-sorted list around its position holds them (nearly always; an attacker needs no more).
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(list[mid]!.id, target) < 0) lo = mid + 1;
      else hi = mid;
    }
    const window = list.slice(Math.max(0, lo - 3 * k), lo + 3 * k).filter((c) => c.index !== self);
    window.sort((a, b) => compareDistance(a.id, b.id, target));
    const picked: Uint8Array[] = [];
    let bytes = 0;
    for (const c of window) {
      if (picked.length === k || bytes + c.contact.length > room) break;
      picked.push(c.contact);
      bytes += c.contact.length;
    }
    return [picked.length, Buffer.concat(picked)];
  }
}
