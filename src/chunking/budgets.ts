/**
 * Which budgets a session's reassembly draws from (issue 10): a pinned peer's budget sits
 * directly under this Peer's share of the process budget; an unpinned peer's sits under its
 * address prefix's, under the one budget all unpinned peers share. Strangers, however many
 * identities and addresses they use, can hold at most the unpinned budget, and pinned peers'
 * transfers keep the rest of the process budget.
 *
 *   process (512 MiB) ─ this Peer ─┬─ pinned peer (128 MiB each)
 *                                  └─ unpinned (128 MiB) ─ prefix (72 MiB) ─ peer (128 MiB)
 */
import { ErrorCode, PeerError } from '../errors.js';
import { PrefixSet, addressPrefix, type PrefixBits } from '../util/ip.js';
import { MemoryBudget } from './budget.js';
import { DEFAULT_PEER_REASSEMBLY_BYTES, DEFAULT_PREFIX_REASSEMBLY_BYTES, DEFAULT_UNPINNED_REASSEMBLY_BYTES } from './constants.js';

export interface ReassemblyLimits {
  /** One remote peer (its key), across its sessions (default 128 MiB). */
  perPeer?: number;
  /** Unpinned peers from one address prefix together (default 72 MiB). */
  perPrefix?: number;
  /** All unpinned peers together (default 128 MiB). */
  unpinned?: number;
  /** How addresses are grouped (the Peer's `addressLimits.prefixBits`: IPv4 /32, IPv6 /64 by default). */
  prefixBits?: PrefixBits;
  /** Prefixes whose peers skip the per-prefix budget (the Peer's `addressLimits.exempt`: a load balancer, a private network). */
  exempt?: readonly string[];
}

/** A session's hold on its budget: `release()` once, when the session ends. */
export interface BudgetLease {
  budget: MemoryBudget;
  release(): void;
}

interface Entry {
  budget: MemoryBudget;
  users: number;
  /** The entry this one's budget is nested in (a prefix), released with it. */
  parentKey: string | null;
}

function checkLimit(name: string, value: number): number {
  if (!(value >= 0)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${name} must be a number of bytes ≥ 0`);
  return value;
}

export class ReassemblyBudgets {
  /** Everything this Peer's sessions hold, inside the process budget. */
  private readonly local: MemoryBudget;
  private readonly unpinned: MemoryBudget;
  private readonly perPeer: number;
  private readonly perPrefix: number;
  private readonly prefixBits: PrefixBits | undefined;
  private readonly exempt: PrefixSet;
  /** Budgets of peers and prefixes with a session open, by key; gone with their last session. */
  private readonly entries = new Map<string, Entry>();

  constructor(limits: ReassemblyLimits, process: MemoryBudget) {
    this.perPeer = checkLimit('maxReassemblyBytesPerPeer', limits.perPeer ?? DEFAULT_PEER_REASSEMBLY_BYTES);
    this.perPrefix = checkLimit('maxReassemblyBytesPerPrefix', limits.perPrefix ?? DEFAULT_PREFIX_REASSEMBLY_BYTES);
    this.prefixBits = limits.prefixBits;
    this.exempt = new PrefixSet(limits.exempt);
    this.local = new MemoryBudget(Infinity, process);
    this.unpinned = new MemoryBudget(checkLimit('maxReassemblyBytesUnpinned', limits.unpinned ?? DEFAULT_UNPINNED_REASSEMBLY_BYTES), this.local);
  }

  /** Reassembly memory held by this Peer's sessions. */
  get inUse(): number {
    return this.local.inUse;
  }

  /** Of which unpinned peers hold this much. */
  get unpinnedInUse(): number {
    return this.unpinned.inUse;
  }

  /**
   * The budget for a session with the peer of key `fingerprint`, connected from `address`
   * (undefined for a transport without one: all such share one prefix key).
   */
  lease(fingerprint: string, pinned: boolean, address: string | undefined): BudgetLease {
    let key: string;
    if (pinned) {
      key = `pinned ${fingerprint}`;
      this.acquire(key, () => new MemoryBudget(this.perPeer, this.local), null);
    } else if (address !== undefined && this.exempt.has(address)) {
      key = `unpinned ${fingerprint} exempt`;
      this.acquire(key, () => new MemoryBudget(this.perPeer, this.unpinned), null);
    } else {
      const prefixKey = `prefix ${addressPrefix(address ?? '', this.prefixBits)}`;
      const prefix = this.acquire(prefixKey, () => new MemoryBudget(this.perPrefix, this.unpinned), null);
      key = `unpinned ${fingerprint} ${prefixKey}`;
      const known = this.entries.has(key);
      this.acquire(key, () => new MemoryBudget(this.perPeer, prefix), prefixKey);
      if (known) this.release(prefixKey); // the peer's entry holds its prefix once
    }
    let released = false;
    return {
      budget: this.entries.get(key)!.budget,
      release: () => {
        if (released) return;
        released = true;
        this.release(key);
      },
    };
  }

  private acquire(key: string, create: () => MemoryBudget, parentKey: string | null): MemoryBudget {
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { budget: create(), users: 0, parentKey };
      this.entries.set(key, e);
    }
    e.users++;
    return e.budget;
  }

  private release(key: string): void {
    const e = this.entries.get(key)!;
    if (--e.users > 0) return;
    this.entries.delete(key);
    if (e.parentKey !== null) this.release(e.parentKey);
  }
}
