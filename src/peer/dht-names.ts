/**
 * How a Peer binds names to keys for DHT lookups (docs/DHT.md §4.3): self-certifying
 * `agent-<fingerprint>` ids, else the trust store's pin (an explicit petname), else — only if
 * the user opted in — the key first seen for the name, pinned from then on.
 */
import { constantTimeEqual } from '../crypto/index.js';
import { selfCertifies, type Binding, type BindingCheck } from '../dht/binding.js';
import type { DhtNode, LookupResult } from '../dht/node.js';
import { isPeerError } from '../errors.js';
import type { TrustStore } from './trust.js';

export class DhtNames {
  /** Names pinned by first-seen (reported as such, not as 'pinned'). */
  private readonly firstSeen = new Set<string>();
  readonly bind: BindingCheck;

  constructor(private readonly trust: TrustStore, private readonly pinFirstSeen: boolean) {
    this.bind = (entityId, publicKey): Binding => {
      if (selfCertifies(entityId, publicKey)) return 'self-certifying';
      const pinned = this.trust.pinned(entityId);
      if (pinned === undefined || !constantTimeEqual(pinned, publicKey)) return 'none';
      return this.firstSeen.has(entityId) ? 'first-seen' : 'pinned';
    };
  }

  /**
   * The record of a name whose key is bound to it. With first-seen pinning on, a name nobody
   * has pinned and exactly one key claims is pinned to that key now (and checked against it
   * ever after); two keys claiming it are a conflict, never a guess.
   */
  async lookup(node: DhtNode, entityId: string): Promise<LookupResult> {
    try {
      return await node.lookup(entityId, undefined, this.bind);
    } catch (err) {
      if (!this.pinFirstSeen || !isPeerError(err) || err.details?.reason !== 'unbound' || this.trust.pinned(entityId)) throw err;
      const [only] = await node.claims(entityId, undefined, this.bind);
      if (!only) throw err;
      this.trust.pin(entityId, only.publicKey);
      this.firstSeen.add(entityId);
      return await node.lookup(entityId, undefined, this.bind);
    }
  }
}
