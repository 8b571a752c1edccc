/**
 * IP address parsing shared by every per-address limit (listener, v1.0 endpoint, DHT): textual
 * IPv4 / IPv6 → bytes, and the *prefix key* a limit counts by. One IPv6 host commonly owns a
 * whole /64, so counting exact IPv6 addresses would give one attacker unlimited identities.
 */
import { ErrorCode, PeerError } from '../errors.js';

/** Dotted quad → 4 bytes, or null (no leading zeros, each part ≤ 255). */
export function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return null;
    out.push(Number(p));
  }
  return out;
}

/** Textual IPv6 ("::" and a trailing dotted quad allowed, no zone) → 16 bytes, or null. */
export function parseV6(s: string): number[] | null {
  if (s.length > 45 || s.includes('%')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (!v4) return null;
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes: number[] = [];
  for (const g of all) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

/** How many leading bits of an address a per-address limit counts by. */
export interface PrefixBits {
  /** IPv4 prefix length, 32 by default (24 groups a /24, e.g. one hosting subnet). */
  v4?: number;
  /** IPv6 prefix length, 64 by default (the usual end-site assignment). */
  v6?: number;
}

export const DEFAULT_PREFIX_BITS: Required<PrefixBits> = { v4: 32, v6: 64 };

/** Bytes of an IP (not host:port) address: 4 for IPv4 and IPv4-mapped IPv6, 16 for IPv6; null if unparsable. */
export function ipBytes(ip: string): number[] | null {
  const v4 = parseV4(ip);
  if (v4) return v4;
  const v6 = parseV6(ip);
  if (!v6) return null;
  // ::ffff:a.b.c.d (how a dual-stack socket reports IPv4 peers) counts as the IPv4 address.
  if (v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return v6.slice(12);
  return v6;
}

function masked(bytes: number[], bits: number): string {
  const out: string[] = [];
  for (let i = 0; i < bytes.length && i * 8 < bits; i++) {
    const keep = Math.min(8, bits - i * 8);
    out.push((bytes[i]! & ((0xff << (8 - keep)) & 0xff)).toString(16).padStart(2, '0'));
  }
  return out.join('');
}

/**
 * The key a per-address limit counts `ip` by: "4/<hex>" for the IPv4 prefix, "6/<hex>" for the
 * IPv6 prefix. A string that is not an IP address (a test transport's name) is its own key.
 */
export function addressPrefix(ip: string, bits: PrefixBits = DEFAULT_PREFIX_BITS): string {
  const bytes = ipBytes(ip);
  if (!bytes) return `?/${ip}`;
  if (bytes.length === 4) return `4/${masked(bytes, clampBits(bits.v4 ?? 32, 32))}`;
  return `6/${masked(bytes, clampBits(bits.v6 ?? 64, 128))}`;
}

function clampBits(n: number, max: number): number {
  return Number.isInteger(n) && n >= 0 && n <= max ? n : max;
}

/** Address prefixes ("10.0.0.0/8", "fd00::/8", "127.0.0.1") that a check matches by bits. */
export class PrefixSet {
  private readonly entries: { bytes: number[]; bits: number }[] = [];

  constructor(cidrs: readonly string[] = []) {
    for (const c of cidrs) this.add(c);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Adds "ip" or "ip/bits"; PeerError INVALID_ARGUMENT on a bad one. */
  add(cidr: string): void {
    const slash = cidr.indexOf('/');
    const ip = slash < 0 ? cidr : cidr.slice(0, slash);
    const bytes = ipBytes(ip);
    if (!bytes) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `not an address prefix: ${JSON.stringify(cidr)}`);
    const max = bytes.length * 8;
    const bits = slash < 0 ? max : Number(cidr.slice(slash + 1));
    if (!Number.isInteger(bits) || bits < 0 || bits > max || !/^[0-9]+$/.test(slash < 0 ? '0' : cidr.slice(slash + 1))) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `bad prefix length in ${JSON.stringify(cidr)}`);
    }
    this.entries.push({ bytes, bits });
  }

  has(ip: string): boolean {
    if (this.entries.length === 0) return false;
    const bytes = ipBytes(ip);
    if (!bytes) return false;
    for (const e of this.entries) {
      if (e.bytes.length === bytes.length && masked(e.bytes, e.bits) === masked(bytes, e.bits)) return true;
    }
    return false;
  }
}

/** How per-address limits group addresses, and which are exempt (listener, v1.0 endpoint). */
export interface AddressLimits {
  /** Prefix lengths a limit counts by (default IPv4 /32, IPv6 /64). */
  prefixBits?: PrefixBits;
  /** Address prefixes ("10.0.0.0/8", "fd00::/8", "192.0.2.7") exempt from per-address limits: a load balancer, a private network. */
  exempt?: readonly string[];
}

/** The key each per-address limit counts an address by: its prefix, or null when it is exempt. */
export class AddressKeys {
  private readonly bits: PrefixBits;
  private readonly exempt: PrefixSet;

  constructor(limits: AddressLimits = {}) {
    this.bits = { ...DEFAULT_PREFIX_BITS, ...limits.prefixBits };
    this.exempt = new PrefixSet(limits.exempt ?? []);
  }

  keyOf(ip: string): string | null {
    return this.exempt.has(ip) ? null : addressPrefix(ip, this.bits);
  }
}
