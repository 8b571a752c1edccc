/**
 * UDP addresses as the DHT core sees them: strings "a.b.c.d:port" or "[v6]:port" (the form
 * the I/O layer builds from rinfo), and their wire form: family (4 or 6), address, port.
 */
import { ErrorCode, PeerError } from '../errors.js';
import type { ByteReader } from '../wire/reader.js';
import { addressPrefix, parseV4, parseV6, type PrefixBits } from '../util/ip.js';

export const ADDRESS_V4_BYTES = 7;
export const ADDRESS_V6_BYTES = 19;
export const MAX_ADDRESS_BYTES = ADDRESS_V6_BYTES;

function bad(address: unknown, why: string): never {
  throw new PeerError(ErrorCode.INVALID_ARGUMENT, `address ${JSON.stringify(address)}: ${why}`);
}

function parsePort(s: string, address: string): number {
  if (!/^[0-9]{1,5}$/.test(s)) bad(address, 'port must be 1..65535');
  const port = Number(s);
  if (port < 1 || port > 65535) bad(address, 'port must be 1..65535');
  return port;
}

/**
 * Wire forms of addresses seen recently: every datagram's source is encoded (for store tokens
 * and the routing table), and a node hears from the same few hundred addresses over and over.
 * Shared by all nodes of the process; cleared when it reaches its bound.
 */
const encoded = new Map<string, Uint8Array>();
const MAX_ENCODED = 65_536;

/** "1.2.3.4:5" or "[::1]:5" → wire bytes (do not modify them: they are shared). Host names are refused. */
export function encodeAddress(address: string): Uint8Array {
  const hit = encoded.get(address);
  if (hit) return hit;
  const bytes = parseAddress(address);
  if (encoded.size >= MAX_ENCODED) encoded.clear();
  encoded.set(address, bytes);
  return bytes;
}

function parseAddress(address: string): Uint8Array {
  if (typeof address !== 'string' || address.length > 64) bad(address, 'must be "ip:port" or "[ipv6]:port"');
  const v6 = address.startsWith('[');
  const colon = v6 ? address.indexOf(']:') : address.lastIndexOf(':');
  if (colon < 0) bad(address, v6 ? 'IPv6 must be written "[addr]:port"' : 'missing ":port"');
  const ip = v6 ? parseV6(address.slice(1, colon)) : parseV4(address.slice(0, colon));
  if (!ip) bad(address, v6 ? 'not an IPv6 address' : 'not an IPv4 address (host names must be resolved first)');
  const port = parsePort(address.slice(colon + (v6 ? 2 : 1)), address);
  return Uint8Array.of(v6 ? 6 : 4, ...ip, port >> 8, port & 0xff);
}

/** Wire bytes at `at` → string; the length is fixed by the family byte. */
export function formatAddress(b: Uint8Array, at = 0): string {
  const family = b[at];
  if (family === 4) {
    return `${b[at + 1]}.${b[at + 2]}.${b[at + 3]}.${b[at + 4]}:${(b[at + 5]! << 8) | b[at + 6]!}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[at + 1 + 2 * i]! << 8) | b[at + 2 + 2 * i]!);
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::", lower-case hex.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  const ip = bestAt < 0 ? hex(groups) : `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
  return `[${ip}]:${(b[at + 17]! << 8) | b[at + 18]!}`;
}

export function addressLength(family: number): number {
  return family === 4 ? ADDRESS_V4_BYTES : ADDRESS_V6_BYTES;
}

/** Reads one wire address: MALFORMED_FRAME on an unknown family or a zero port. */
export function readAddress(r: ByteReader): string {
  const family = r.u8();
  if (family !== 4 && family !== 6) r.fail(`address family ${family}`);
  const rest = r.bytesView(addressLength(family) - 1);
  if (rest[rest.length - 2] === 0 && rest[rest.length - 1] === 0) r.fail('port 0');
  const whole = new Uint8Array(rest.length + 1);
  whole[0] = family;
  whole.set(rest, 1);
  return formatAddress(whole);
}

/** Canonical spelling of an address string (what formatAddress(encodeAddress(a)) gives). */
export function normalizeAddress(address: string): string {
  return formatAddress(encodeAddress(address));
}

/** Prefixes that quotas and routing-table caps count by: one hosting subnet is one source. */
export const SUBNET_BITS: Required<PrefixBits> = { v4: 24, v6: 64 };

/**
 * The prefix key (util/ip.ts) of an "ip:port" / "[ip6]:port" source: IPv4 /32 and IPv6 /64 by
 * default (the rate limiter), SUBNET_BITS for quotas and table caps.
 */
export function sourcePrefix(address: string, bits: PrefixBits = {}): string {
  const key = `${bits.v4 ?? 32}/${bits.v6 ?? 64} ${address}`;
  const hit = prefixes.get(key);
  if (hit !== undefined) return hit;
  const ip = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.slice(0, address.lastIndexOf(':'));
  const prefix = addressPrefix(ip, bits);
  if (prefixes.size >= MAX_ENCODED) prefixes.clear();
  prefixes.set(key, prefix);
  return prefix;
}

/** Prefix keys of addresses seen recently (every datagram asks for one), bounded like `encoded`. */
const prefixes = new Map<string, string>();

const hex2 = (b: number): string => (b < 16 ? '0' : '') + b.toString(16);

/** sourcePrefix(formatAddress(b, at), SUBNET_BITS), read straight from the wire form. */
export function wireSubnet(b: Uint8Array, at: number): string {
  let v4 = b[at] === 4 ? at + 1 : -1;
  if (v4 < 0) {
    let mapped = b[at + 11] === 0xff && b[at + 12] === 0xff;
    for (let i = 1; mapped && i <= 10; i++) if (b[at + i] !== 0) mapped = false;
    if (mapped) v4 = at + 13;
  }
  if (v4 >= 0) return `4/${hex2(b[v4]!)}${hex2(b[v4 + 1]!)}${hex2(b[v4 + 2]!)}`;
  let out = '6/';
  for (let i = 1; i <= 8; i++) out += hex2(b[at + i]!);
  return out;
}

/** Offset of the IPv4 address in the wire address at `at` (IPv4, or IPv4-mapped IPv6), else −1. */
function v4At(b: Uint8Array, at: number): number {
  if (b[at] === 4) return at + 1;
  if (b[at + 11] !== 0xff || b[at + 12] !== 0xff) return -1;
  for (let i = 1; i <= 10; i++) if (b[at + i] !== 0) return -1;
  return at + 13;
}

/** True when the wire addresses at `a[ao..]` and `b[bo..]` share a subnet (SUBNET_BITS), as wireSubnet() would say. */
export function sameSubnet(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  const x = v4At(a, ao);
  const y = v4At(b, bo);
  if (x >= 0 || y >= 0) return x >= 0 && y >= 0 && a[x] === b[y] && a[x + 1] === b[y + 1] && a[x + 2] === b[y + 2];
  for (let i = 1; i <= 8; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}
