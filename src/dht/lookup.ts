/**
 * One iterative lookup (Kademlia §2.3), sans-I/O: the core asks it what to query next and feeds
 * it responses and failures. Candidates are kept sorted by XOR distance to the target; at most
 * `alpha` requests are in flight, always to the closest not-yet-queried candidates among the
 * k closest still alive, and the lookup ends when each of those k has answered (or failed).
 * A value lookup ends at the first record bound to its name; a provider lookup gathers to the end.
 * A request past its RTO makes room for the next candidate at once, but a value or provider lookup
 * that has met no record at all does not end while such a slow request may still be answered (until its
 * hard deadline): on a small or loaded network the only holders of a record may just be slow.
 */
import { formatAddress, sourcePrefix, SUBNET_BITS, wireSubnet } from './address.js';
import { ID_BYTES } from './constants.js';
import { compareDistance, distancePrefix, idHex, idsEqual } from './id.js';

export const NEW = 0;
export const PENDING = 1;
export const ANSWERED = 2;
export const FAILED = 3;
/** Past its RTO, so another candidate is asked in its place; its answer is taken until the hard deadline. */
export const SLOW = 4;
type CandState = typeof NEW | typeof PENDING | typeof ANSWERED | typeof FAILED | typeof SLOW;

export interface Candidate {
  /** Unknown for a bootstrap address until it answers. */
  id: Uint8Array | null;
  address: string;
  state: CandState;
  /** Store token from its answer (publish lookups). */
  token: Uint8Array | null;
  tries: number;
  /** Its address's subnet (IPv4 /24, IPv6 /64): at most maxPerPrefix per k-closest set. */
  prefix: string;
  /** Its id in hex, for the set of nodes asked by a disjoint lookup's paths (else null). */
  key: string | null;
}

const SEED_TRIES = 3;

export type LookupMode = 'nodes' | 'value' | 'providers';

export class Lookup {
  readonly candidates: Candidate[] = [];
  private readonly seeds: Candidate[] = [];
  inflight = 0;
  rpcs = 0;
  answered = 0;
  /** Candidates in state SLOW. */
  slow = 0;
  /** A value or provider lookup (or a sibling path) met a valid record for its key, bound or not. */
  met = false;
  /** A 'value' lookup met a record bound to its name (or its tombstone): it may end. */
  found = false;
  /** Ended by its deadline or request cap: nothing more is sent. */
  stopped = false;
  /** Leading 45 bits of each candidate's distance to the target, in candidate order. */
  private readonly dist: Float64Array;
  /** The candidates' ids back to back, in candidate order. */
  private readonly ids: Uint8Array;

  constructor(
    readonly target: Uint8Array,
    readonly mode: LookupMode,
    private readonly self: Uint8Array,
    private readonly k: number,
    private readonly alpha: number,
    private readonly maxCandidates: number,
    private readonly maxPerPrefix = Infinity,
    private readonly maxRequests = Infinity,
    /** Nodes asked by any path of a disjoint lookup (S/Kademlia): this path skips them. */
    private readonly shared: Set<string> | null = null,
  ) {
    this.dist = new Float64Array(maxCandidates);
    this.ids = new Uint8Array(maxCandidates * ID_BYTES);
  }

  /**
   * A contact that may be close to the target: the id at `buf[at..at+32)`, its address given or
   * read after it. Called for every contact of every answer, most of them already known, so it
   * works on two flat arrays parallel to `candidates` (one lookup's answers arrive between many
   * other nodes' events, and pointer chasing is what costs): `dist`, the leading 45 bits of
   * each candidate's distance, searched as numbers; and `ids`, the ids back to back.
   * A candidate pushed out past maxCandidates never comes back: it was farther than all kept.
   */
  add(buf: Uint8Array, at: number, address?: string): boolean {
    const c = this.candidates;
    const t = this.target;
    const dist = this.dist;
    const ids = this.ids;
    const len = c.length;
    const d = distancePrefix(buf, at, t);
    if (len >= this.maxCandidates) {
      const last = dist[len - 1]!;
      if (d > last || (d === last && compareDistance(ids, buf, t, (len - 1) * ID_BYTES, at) <= 0)) return false;
    }
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (dist[mid]! < d) lo = mid + 1;
      else hi = mid;
    }
    // Equal leading bits: the same id (known already), or, rarely, a tie to order exactly.
    for (; lo < len && dist[lo] === d; lo++) {
      const cmp = compareDistance(ids, buf, t, lo * ID_BYTES, at);
      if (cmp === 0) return false;
      if (cmp > 0) break;
    }
    if (idsEqual(this.self, buf, at)) return false;
    const keep = Math.min(len, this.maxCandidates - 1);
    dist.copyWithin(lo + 1, lo, keep);
    dist[lo] = d;
    ids.copyWithin((lo + 1) * ID_BYTES, lo * ID_BYTES, keep * ID_BYTES);
    for (let i = 0; i < ID_BYTES; i++) ids[lo * ID_BYTES + i] = buf[at + i]!;
    const id = ids.slice(lo * ID_BYTES, (lo + 1) * ID_BYTES);
    const addr = address ?? formatAddress(buf, at + ID_BYTES);
    const prefix = address === undefined ? wireSubnet(buf, at + ID_BYTES) : sourcePrefix(address, SUBNET_BITS);
    c.splice(lo, 0, { id, address: addr, state: NEW, token: null, tries: 0, prefix, key: this.shared ? idHex(id) : null });
    if (c.length > this.maxCandidates) c.pop();
    return true;
  }

  /**
   * The contacts of one answer (`count` of them in `block`): at most `cap` new candidates,
   * the closest first, and at most maxPerPrefix from one subnet. Made-up ids then cost an
   * answer one slot each, not a lookup many round trips.
   */
  addAnswer(block: Uint8Array, count: number, cap: number, next: (block: Uint8Array, at: number) => number): void {
    const at: number[] = [];
    for (let i = 0, o = 0; i < count; i++, o = next(block, o)) at.push(o);
    const t = this.target;
    at.sort((x, y) => compareDistance(block, block, t, x, y));
    const perPrefix = new Map<string, number>();
    let added = 0;
    for (const o of at) {
      if (added >= cap) break;
      const p = wireSubnet(block, o + ID_BYTES);
      const n = perPrefix.get(p) ?? 0;
      if (n >= this.maxPerPrefix) continue;
      perPrefix.set(p, n + 1);
      if (this.add(block, o)) added++;
    }
  }

  /** A bootstrap address: queried before anything else; its id is learnt from its answer. */
  addSeed(address: string): void {
    if (!this.seeds.some((s) => s.address === address)) {
      this.seeds.push({ id: null, address, state: NEW, token: null, tries: 0, prefix: sourcePrefix(address, SUBNET_BITS), key: null });
    }
  }

  /** Ends the lookup where it is (deadline): later answers are ignored. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * The candidates that make up the k-closest set, closest first: not failed, and at most
   * maxPerPrefix from one subnet (so one host's ground ids cannot fill it). Calls `visit`
   * on each until it returns false.
   */
  private closestSet(visit: (c: Candidate) => boolean): void {
    let seen = 0;
    const perPrefix = this.maxPerPrefix === Infinity ? null : new Map<string, number>();
    for (const c of this.candidates) {
      if (seen >= this.k) return;
      // Asked by another path: not part of this one's k-closest set.
      if (c.state === NEW && c.key !== null && this.shared!.has(c.key)) c.state = FAILED;
      if (c.state === FAILED || c.state === SLOW) continue;
      if (perPrefix) {
        const n = perPrefix.get(c.prefix) ?? 0;
        if (n >= this.maxPerPrefix) continue;
        perPrefix.set(c.prefix, n + 1);
      }
      seen++;
      if (!visit(c)) return;
    }
  }

  /** The next candidates to query (marked pending); empty when nothing should be sent now. */
  next(): Candidate[] {
    const out: Candidate[] = [];
    if (this.finished) return out;
    for (const s of this.seeds) {
      if (this.inflight >= this.alpha || this.rpcs >= this.maxRequests) return out;
      if (s.state === NEW) this.launch(s, out);
    }
    this.closestSet((c) => {
      if (this.inflight >= this.alpha || this.rpcs >= this.maxRequests) return false;
      if (c.state === NEW) this.launch(c, out);
      return true;
    });
    return out;
  }

  private launch(c: Candidate, out: Candidate[]): void {
    if (c.key !== null) this.shared!.add(c.key);
    c.state = PENDING;
    this.inflight++;
    this.rpcs++;
    out.push(c);
  }

  /** `c` answered (maybe after its RTO, when it was counted failed); `id` is its id as proven by its public key. */
  answer(c: Candidate, id: Uint8Array): void {
    if (c.state === PENDING) this.inflight--;
    else if (c.state === SLOW) this.slow--;
    else if (c.state !== FAILED) return;
    this.answered++;
    c.state = ANSWERED;
    if (c.id === null) {
      // A seed: now that its id is known, it takes its place among the candidates.
      this.add(id, 0, c.address);
      const placed = this.candidates.find((x) => idsEqual(x.id!, id));
      // If it was also queried under its id, that request settles it; otherwise it is settled now.
      if (placed && (placed.state === NEW || placed.state === FAILED || placed.state === SLOW)) {
        if (placed.state === SLOW) this.slow--;
        placed.state = ANSWERED;
        placed.token = c.token;
      }
    }
  }

  /** `c` did not answer by its RTO (`late`: it may still answer, see SLOW) or could not be asked. */
  fail(c: Candidate, late = false): void {
    if (c.state !== PENDING) return;
    this.inflight--;
    // A bootstrap address is all a joining node has: it is asked up to SEED_TRIES times.
    if (c.id === null && ++c.tries < SEED_TRIES) c.state = NEW;
    else if (late) {
      c.state = SLOW;
      this.slow++;
    } else c.state = FAILED;
  }

  /** A SLOW candidate's hard deadline passed without an answer. */
  lapsed(c: Candidate): void {
    if (c.state !== SLOW) return;
    c.state = FAILED;
    this.slow--;
  }

  /** Done: a value found, or every one of the k closest live candidates has answered. */
  get finished(): boolean {
    if (this.stopped || (this.mode === 'value' && this.found)) return true;
    if (this.mode !== 'nodes' && this.slow > 0 && !this.met) return false;
    for (const s of this.seeds) if (s.state === PENDING || (s.state === NEW && this.rpcs < this.maxRequests)) return false;
    let open = false;
    this.closestSet((c) => {
      // At the request cap, only the requests in flight are still waited for.
      open = c.state === PENDING || (c.state === NEW && this.rpcs < this.maxRequests);
      return !open;
    });
    return !open;
  }

  /** The k closest candidates that answered, closest first, at most maxPerPrefix per subnet. */
  closest(): Candidate[] {
    return firstPerPrefix(this.candidates.filter((c) => c.state === ANSWERED), this.k, this.maxPerPrefix);
  }
}

/** The first `k` of `sorted` (closest first), taking at most `maxPerPrefix` from one subnet. */
export function firstPerPrefix(sorted: Candidate[], k: number, maxPerPrefix: number): Candidate[] {
  const out: Candidate[] = [];
  const perPrefix = new Map<string, number>();
  for (const c of sorted) {
    if (out.length >= k) break;
    const n = perPrefix.get(c.prefix) ?? 0;
    if (n >= maxPerPrefix) continue;
    perPrefix.set(c.prefix, n + 1);
    out.push(c);
  }
  return out;
}
